"""scripts/build_book.py: how many processes read the book, and the build it hands to jupyter-book."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import build_book  # noqa: E402


def test_default_jobs_is_one_per_core_capped(monkeypatch):
    monkeypatch.delenv("GANAD_BOOK_JOBS", raising=False)
    for cores, jobs in [(None, 1), (1, 1), (2, 2), (16, build_book.MAX_JOBS)]:
        monkeypatch.setattr(build_book.os, "cpu_count", lambda c=cores: c)
        assert build_book.book_jobs() == jobs


def test_jobs_from_the_environment(monkeypatch):
    monkeypatch.setenv("GANAD_BOOK_JOBS", " 3 ")
    assert build_book.book_jobs() == 3


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_jobs_value_names_the_variable_and_the_fix(monkeypatch, value):
    monkeypatch.setenv("GANAD_BOOK_JOBS", value)
    with pytest.raises(SystemExit) as error:
        build_book.book_jobs()
    assert "GANAD_BOOK_JOBS" in str(error.value) and "whole number" in str(error.value)


def test_one_page_per_task_keeps_every_page_once_in_order():
    pages = [f"chapter{i}" for i in range(23)]
    chunks = build_book.one_page_per_task(pages, nproc=2)
    assert chunks == [[p] for p in pages]


def test_parallel_build_passes_jobs_and_splits_threads(monkeypatch):
    import jupyter_book.cli.main
    import jupyter_book.sphinx
    import sphinx.builders

    # Restored after the test: main() patches these module attributes for the run it starts.
    monkeypatch.setattr(jupyter_book.sphinx, "build_sphinx", jupyter_book.sphinx.build_sphinx)
    monkeypatch.setattr(sphinx.builders, "make_chunks", sphinx.builders.make_chunks)
    monkeypatch.setenv("GANAD_BOOK_JOBS", "2")
    monkeypatch.setattr(build_book.os, "cpu_count", lambda: 4)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    calls = []
    monkeypatch.setattr(jupyter_book.cli.main, "main", calls.append)
    monkeypatch.setattr(sys, "argv", ["build_book.py", "-W", "."])

    build_book.main()

    assert calls == [["build", "-W", "."]]
    assert jupyter_book.sphinx.build_sphinx.keywords == {"jobs": 2}
    assert sphinx.builders.make_chunks is build_book.one_page_per_task
    assert build_book.os.environ["OMP_NUM_THREADS"] == build_book.os.environ["MKL_NUM_THREADS"] == "2"


def test_serial_build_is_plain_jupyter_book(monkeypatch):
    import jupyter_book.cli.main
    import jupyter_book.sphinx

    original = jupyter_book.sphinx.build_sphinx
    monkeypatch.setenv("GANAD_BOOK_JOBS", "1")
    calls = []
    monkeypatch.setattr(jupyter_book.cli.main, "main", calls.append)
    monkeypatch.setattr(sys, "argv", ["build_book.py", "."])

    build_book.main()

    assert calls == [["build", "."]]
    assert jupyter_book.sphinx.build_sphinx is original
