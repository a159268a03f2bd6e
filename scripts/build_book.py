"""`jupyter-book build` with the chapters executed side by side: `python scripts/build_book.py [jupyter-book build args]`.

Jupyter Book 1 executes each notebook while Sphinx reads it, and Sphinx can read in parallel processes, but
the `jupyter-book build` command has no option for that. This runs the same command with Sphinx's parallel
read switched on: GANAD_BOOK_JOBS processes (default: one per CPU core, at most 4), each page its own task,
so that the long chapters do not queue behind each other in one of Sphinx's default batches of pages.
Each notebook's kernel gets cores / jobs torch threads (OMP_NUM_THREADS, when it is not set already), so
two kernels never fight over one core. GANAD_BOOK_JOBS=1 is the plain serial `jupyter-book build`.
"""
from __future__ import annotations

import functools
import os
import sys

MAX_JOBS = 4  # each kernel holds torch and its data in memory


def book_jobs() -> int:
    """Processes to read (and execute) pages with: $GANAD_BOOK_JOBS, else min(CPU cores, MAX_JOBS)."""
    value = os.environ.get("GANAD_BOOK_JOBS", "").strip()
    if not value:
        return max(1, min(os.cpu_count() or 1, MAX_JOBS))
    if not value.isdigit() or int(value) < 1:
        sys.exit(f"GANAD_BOOK_JOBS={value!r}: set it to a whole number of processes (1 builds one page at a time)")
    return int(value)


def one_page_per_task(docnames, nproc, maxbatch=10):
    """Sphinx's make_chunks, one page a chunk: a free process takes the next page as soon as it is done."""
    return [[name] for name in docnames]


def main() -> None:
    jobs = book_jobs()
    if jobs > 1:
        import jupyter_book.sphinx
        import sphinx.builders

        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # the kernels inherit these
            os.environ.setdefault(name, threads)
        sphinx.builders.make_chunks = one_page_per_task
        jupyter_book.sphinx.build_sphinx = functools.partial(jupyter_book.sphinx.build_sphinx, jobs=jobs)
        print(f"building with {jobs} processes, {os.environ['OMP_NUM_THREADS']} torch thread(s) a kernel")
    from jupyter_book.cli.main import main as cli

    cli(["build", *sys.argv[1:]])


if __name__ == "__main__":
    main()
