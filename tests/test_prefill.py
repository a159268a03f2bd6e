"""The book's prefill: every run a chapter reads, trained first into the run cache, costliest first."""
import pytest
import torch

import ganad_lite.experiments as ex
from ganad_lite.data.synthetic import make_synthetic_mvtec
from ganad_lite.experiments import prefill
from ganad_lite.experiments.workers import RunSpec
from ganad_lite.profiles import Profile

TINY = Profile("tiny", "tests: one generator step per model", width=4, batch_size=25, lr=1e-4,
               epochs={"mnist": 1, "cifar10": 1, "mvtec": 1}, max_train=50, max_test=60, mvtec_sizes=(28, 32),
               search_steps=2, search_restarts=1, izif_steps=3)
SOME = [RunSpec("mnist", 2, 0), RunSpec("mnist", 0, 0, 0.1), RunSpec("mvtec", ("synthetic", 32), 0)]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A data root with one synthetic MVTec category (MNIST and CIFAR-10 fall back to the shipped samples)."""
    root = tmp_path_factory.mktemp("data")
    make_synthetic_mvtec(root, "synthetic", n_train=30, n_test_good=8, n_test_defect=12, size=32, seed=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANAD_DATA", str(root))
        mp.delenv("GANAD_WORKERS", raising=False)
        yield root


def _folders(cache):
    return sorted(p.name for p in cache.iterdir())


def test_book_runs_are_the_chapters_runs(root):
    runs = prefill.book_runs(TINY)
    assert [r.key for r in runs if r.experiment == "mnist" and not r.contamination] == list(range(10))
    assert [r.key for r in runs if r.experiment == "cifar10"] == ["automobile"]
    assert [r.key for r in runs if r.experiment == "mvtec"] == [("synthetic", 28), ("synthetic", 32)]
    assert [(r.key, r.contamination) for r in runs if r.contamination] == [(prefill.CONTAMINATED_DIGIT, 0.1)]
    assert {r.seed for r in runs} == set(TINY.seeds)
    three = prefill.book_runs(TINY, seeds=(0, 1, 2))  # every run of `reproduce --seeds 0,1,2`, one list
    assert [r for r in three if not r.contamination] == [prefill.RunSpec(r.experiment, r.key, seed)
                                                        for r in runs if not r.contamination for seed in (0, 1, 2)]
    assert [r for r in three if r.contamination] == [r for r in runs if r.contamination]  # the book reads seed 0


def test_prefill_trains_once_what_the_chapters_then_read(root, tmp_path, monkeypatch):
    monkeypatch.setattr(prefill, "book_runs", lambda profile=None, root=None, seeds=None: SOME)
    cache = tmp_path / "runs"
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # two workers of one thread, whatever the machine
    try:
        first = prefill.prefill_book(TINY, cache_dir=cache, workers=2, progress=False)
        again = prefill.prefill_book(TINY, cache_dir=cache, workers=2, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert (first.runs, first.trained, first.workers) == (3, 3, 2)
    assert (again.trained, again.workers) == (0, 1)
    folders = _folders(cache)
    assert len(folders) == 3
    # the chapters' own calls find their runs trained: nothing new lands in the cache
    assert ex.run_mnist(TINY, digits=[2], progress=False, cache_dir=cache).runs[0].detector.loaded_from_cache
    mvtec = ex.run_mvtec(TINY, sizes=(32,), progress=False, cache_dir=cache)
    assert [r.detector.loaded_from_cache for r in mvtec.runs] == [True]
    ex.contamination_study(0, fractions=(0.1,), gan_fractions=(0.1,), profile=TINY, progress=False, cache_dir=cache)
    assert _folders(cache) == folders


def test_prefill_orders_by_cost_and_trains_in_process_without_workers(root, tmp_path, monkeypatch):
    monkeypatch.setattr(prefill, "book_runs", lambda profile=None, root=None, seeds=None: SOME)
    handed = []
    monkeypatch.setattr(prefill, "train_in_workers", lambda label, pending, *a, **k: handed.extend(pending) or 1)
    report = prefill.prefill_book(TINY, cache_dir=tmp_path / "runs", progress=False)
    splits = {spec: spec.split(TINY) for spec in SOME}
    costs = [prefill.estimated_cost(splits[s], s.experiment, TINY) for s in handed]
    assert sorted(handed, key=SOME.index) == SOME and costs == sorted(costs, reverse=True)
    assert (report.trained, report.workers) == (3, 1) and len(_folders(tmp_path / "runs")) == 3


def test_prefill_needs_a_run_cache(root):
    with pytest.raises(ValueError, match="run cache"):
        prefill.prefill_book(TINY, cache_dir=False)
