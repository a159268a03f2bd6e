"""Experiments: tables, thresholds, baselines and reproduce on tiny data (shipped samples, synthetic MVTec)."""
import dataclasses
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import norm

from ganad_lite import experiments as ex
from ganad_lite import metrics
from ganad_lite.baselines import PCABaseline
from ganad_lite.data import make_synthetic_mvtec
from ganad_lite.experiments.display import DEFECTS
from ganad_lite.experiments.scorecache import cached_score_terms
from ganad_lite.experiments.search import SEARCH_VARIANTS, cached_search_scores
from ganad_lite.experiments.variants import CANDIDATES, ENSEMBLE, SELECTED, VARIANTS, ensemble_scores, score_all
from ganad_lite.profiles import Profile

pytestmark = pytest.mark.filterwarnings("ignore::ganad_lite.data.DataFallbackWarning")  # samples are expected here

TINY = Profile("tiny", "tests: one generator step per model", width=4, batch_size=25, lr=1e-4,
               epochs={"mnist": 1, "cifar10": 1, "mvtec": 1}, max_train=50, max_test=60, mvtec_sizes=(28, 32),
               search_steps=2, search_restarts=1, izif_steps=3)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """An empty data root (MNIST / CIFAR-10 fall back to the shipped samples) holding one synthetic MVTec
    category, and a private run cache."""
    root = tmp_path_factory.mktemp("data")
    make_synthetic_mvtec(root, "synthetic", n_train=30, n_test_good=8, n_test_defect=12, size=32, seed=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANAD_DATA", str(root))
        mp.setenv("GANAD_RUNS", str(tmp_path_factory.mktemp("runs")))
        yield root


@pytest.fixture(scope="module")
def mnist(env):
    return ex.run_mnist(TINY, digits=[0, 1], progress=False)


@pytest.fixture(scope="module")
def mvtec(env):
    return ex.run_mvtec(TINY, progress=False)


def _metric_values(df):
    values = df.drop(columns=[c for c in df.columns if c[0] == ex.REPORTED]).to_numpy(dtype=float)
    return values[~np.isnan(values)]


def test_mnist_table_rows_columns_and_thesis_cells(mnist):
    table = ex.results_table(mnist.summary())
    assert list(table.index) == ["digit 0", "digit 1", "mean"]
    for col in [("GAN", "AUROC"), ("GAN", "AP"), (ex.HELDOUT, "F1"), (ex.OPTIMISTIC, "F1"), ("all anomalous", "F1"),
                ("PCA baseline", "AUROC"), (ex.REPORTED, "F1")]:
        assert col in table.columns
    assert not any(c[0] == "pixel level" for c in table.columns)
    for run, label in zip(mnist.runs, ["digit 0", "digit 1"]):
        m = run.metrics[ex.PRIMARY]
        assert table.loc[label, ("GAN", "AUROC")] == pytest.approx(m["auroc"])
        assert table.loc[label, (ex.HELDOUT, "F1")] == pytest.approx(m["heldout_threshold"]["f1"])
        assert table.loc[label, (ex.OPTIMISTIC, "F1")] == pytest.approx(m["best_test_threshold_optimistic"]["f1"])
        assert table.loc[label, ("PCA baseline", "AUROC")] == pytest.approx(run.baseline["auroc"])
    assert table.loc["digit 1", (ex.REPORTED, "F1")] == pytest.approx(ex.THESIS["mnist"]["f1_per_digit"][1] / 100)
    assert table.loc["mean", (ex.REPORTED, "P")] == pytest.approx(ex.THESIS["mnist"]["precision"] / 100)
    per_digit = table.loc[["digit 0", "digit 1"], ("GAN", "AUROC")]
    assert table.loc["mean", ("GAN", "AUROC")] == pytest.approx(per_digit.mean())


def test_trivial_baseline_is_the_label_ratio(mnist):
    for run in mnist.runs:
        p = run.labels.mean()
        for m in run.metrics.values():
            assert m["trivial_all_anomalous"]["precision"] == pytest.approx(p)
            assert m["trivial_all_anomalous"]["f1"] == pytest.approx(2 * p / (1 + p))


def test_heldout_threshold_comes_from_val_scores(mnist):
    for run in mnist.runs:
        val = score_all(run.detector, run.split.val, keep_maps=False)  # the held-out normals, scored again
        for s in val.values():
            s.standardizer = run.detector.standardizer
        for variant, v in ex.VARIANTS.items():
            m = run.metrics[variant]
            expected = np.quantile(v.image_scores(val[v.encoder]), ex.QUANTILE)
            assert m["heldout_threshold"]["threshold"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
            prf = metrics.precision_recall_f1(run.labels, run.variant_scores(variant), expected)
            assert m["heldout_threshold"]["f1"] == pytest.approx(prf["f1"])
            assert m["best_test_threshold_optimistic"]["f1"] >= m["heldout_threshold"]["f1"] - 1e-12
            assert m["best_test_threshold_optimistic"]["f1"] >= m["trivial_all_anomalous"]["f1"] - 1e-12


def test_pca_baseline_is_evaluated_on_the_same_split(mnist):
    run = mnist.runs[0]
    assert run.baseline["n_test"] == len(run.split.test) and run.baseline["n_anomalous"] == int(run.labels.sum())
    pca_scores, _ = PCABaseline(seed=0).fit(run.split.train).reconstruction_error(run.split.test)
    assert run.baseline["auroc"] == pytest.approx(metrics.auroc(run.labels, pca_scores))


def test_seeds_are_averaged_with_their_spread(mnist):
    result = ex.run_mnist(TINY, digits=[0], seeds=(0, 1), progress=False)  # seed 0 comes from the run cache
    table = ex.results_table(result.summary())
    aurocs = [r.metrics[ex.PRIMARY]["auroc"] for r in result.runs]
    assert list(table.index) == ["digit 0"] and table.index.name == "normal class (2 seeds averaged)"
    assert table.loc["digit 0", ("GAN", "AUROC")] == pytest.approx(np.mean(aurocs))
    assert table.loc["digit 0", ("GAN", "AUROC sd (seeds)")] == pytest.approx(np.std(aurocs, ddof=1))


def test_seed_means_give_the_spread_of_the_headline_itself():
    from types import SimpleNamespace

    def run(seed, auroc):
        return SimpleNamespace(detector=SimpleNamespace(config=SimpleNamespace(seed=seed)),
                               metrics={ex.PRIMARY: {"auroc": auroc}})
    # two classes x three seeds: per-seed headlines 0.7, 0.8, 0.9
    runs = [run(0, 0.6), run(0, 0.8), run(1, 0.7), run(1, 0.9), run(2, 0.8), run(2, 1.0)]
    got = ex.seed_means(runs, ex.PRIMARY)
    assert got["auroc"] == pytest.approx({"0": 0.7, "1": 0.8, "2": 0.9})
    assert got["mean"] == pytest.approx(0.8) and got["sd"] == pytest.approx(0.1)
    assert ex.seed_means(runs[:2], ex.PRIMARY)["sd"] is None  # one seed: no spread to report


def test_variants_table_lists_every_variant_then_the_selected_one(mnist):
    table = ex.variants_table(mnist.summary())
    n = len(ex.VARIANTS)
    assert list(table.index[:n]) == [ex.VARIANT_NAMES[v] for v in ex.VARIANTS]
    assert [label.split(" (on ")[0] for label in table.index[n:-3]] == [v.label for v in SEARCH_VARIANTS.values()]
    assert table.index[-3].startswith("selected on synthetic defects (")
    assert table.index[-2].startswith("selected on small synthetic defects, a rule added after the test results")
    assert table.index[-1].startswith("mean of the candidates' z-scores") and "added after" in table.index[-1]
    assert table.iloc[-1]["AUROC"] == pytest.approx(np.mean([r.metrics[ENSEMBLE]["auroc"] for r in mnist.runs]))
    assert list(table["encoder"][:n]) == [v.encoder for v in ex.VARIANTS.values()]
    for v in ex.VARIANTS:  # the mean over the runs of each variant's AUROC
        expected = np.mean([r.metrics[v]["auroc"] for r in mnist.runs])
        assert table.loc[ex.VARIANT_NAMES[v], "AUROC"] == pytest.approx(expected)
    assert table.iloc[-3]["AUROC"] == pytest.approx(np.mean([r.metrics[SELECTED]["auroc"] for r in mnist.runs]))
    small = [r.metrics["selected_small"] for r in mnist.runs]
    assert table.iloc[-2]["AUROC"] == pytest.approx(np.mean([m["auroc"] for m in small]))
    for run, m in zip(mnist.runs, small):  # the same rule, on the harder planted set
        assert set(m["selection_auroc"]) == set(CANDIDATES)
        assert m["selected_from"] == max(m["selection_auroc"], key=m["selection_auroc"].get)
        assert m["auroc"] == run.metrics[m["selected_from"]]["auroc"]


def test_selected_is_the_best_candidate_on_synthetic_defects(mnist):
    for run in mnist.runs:
        sel = run.metrics[SELECTED]
        assert set(sel["selection_auroc"]) == set(CANDIDATES)
        assert sel["selected_from"] == max(sel["selection_auroc"], key=sel["selection_auroc"].get)
        assert sel["auroc"] == run.metrics[sel["selected_from"]]["auroc"]  # its test numbers are the candidate's
        assert run.summary()["metrics"][SELECTED]["selected_from"] == sel["selected_from"]


def test_ensemble_is_the_mean_of_the_candidates_z_scores_on_held_out_normals(mnist):
    for run in mnist.runs:
        z_test, z_normal = [], []
        for name in CANDIDATES:  # by hand: z-score each candidate with the held-out normals' mean and sd
            v = VARIANTS[name]
            n = v.image_scores(run.normal_by_encoder[v.encoder])
            z_test.append((v.image_scores(run.by_encoder[v.encoder]) - n.mean()) / n.std())
            z_normal.append((n - n.mean()) / n.std())
        test, normal = ensemble_scores(run.by_encoder, run.normal_by_encoder)
        np.testing.assert_allclose(test, np.mean(z_test, 0), rtol=1e-4, atol=1e-5)  # by hand in float32
        np.testing.assert_allclose(normal, np.mean(z_normal, 0), rtol=1e-4, atol=1e-5)
        assert abs(normal.mean()) < 1e-6  # centred on the held-out normals by construction
        assert run.metrics[ENSEMBLE]["auroc"] == pytest.approx(metrics.auroc(run.labels, test))
        assert run.metrics[ENSEMBLE]["heldout_threshold"]["threshold"] == pytest.approx(np.quantile(normal, ex.QUANTILE))
        assert run.metrics[ENSEMBLE]["members"] == list(CANDIDATES)
    assert "ensemble_by_seed" in mnist.summary()


def test_ensemble_leaves_out_a_member_without_scale_and_refuses_when_none_has_one():
    from ganad_lite.scoring import Scores

    def scores(feature):  # Scores whose only informative term is the critic-feature residual
        n = len(feature)
        return {"berg": Scores(np.zeros(n), np.zeros(n), np.zeros((n, 2)), feature=np.asarray(feature, float))}
    normal, test = scores([1.0, 2.0, 3.0]), scores([2.0, 5.0])
    got, _ = ensemble_scores(test, normal, members=("feature", "residual"))  # L_n is 0 on every normal here
    np.testing.assert_allclose(got, (np.array([2.0, 5.0]) - 2.0) / np.std([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="constant on the held-out normals"):
        ensemble_scores(test, normal, members=("residual",))


def test_choices_never_read_test_labels(env):
    """Shuffled test labels change no choice: the izif checkpoints, the selected variant, the thresholds."""
    split = ex.make_split("mnist", 0, TINY)
    shuffled = dataclasses.replace(split, test_labels=split.test_labels[torch.randperm(len(split.test_labels))])
    a, b = (ex.run_one(s, "mnist", TINY, cache_dir=False, progress=False, monitor=False) for s in (split, shuffled))
    assert a.metrics[SELECTED]["selection_auroc"] == b.metrics[SELECTED]["selection_auroc"]
    assert a.metrics[SELECTED]["selected_from"] == b.metrics[SELECTED]["selected_from"]
    for mode in ("izif", "berg+izif"):
        for p, q in zip(a.detector.encoders[mode].parameters(), b.detector.encoders[mode].parameters()):
            assert torch.equal(p, q)
    for v in [*ex.VARIANTS, *SEARCH_VARIANTS, ENSEMBLE]:
        assert a.metrics[v]["heldout_threshold"]["threshold"] == b.metrics[v]["heldout_threshold"]["threshold"]


def test_cifar10_automobile_row_carries_thesis_and_berg(env):
    result = ex.run_cifar10(TINY, progress=False)
    summary = result.summary()
    table = ex.results_table(summary)
    assert list(table.index) == ["automobile"]
    assert table.loc["automobile", (ex.REPORTED, "F1")] == pytest.approx(0.8916)
    assert ex.variants_table(summary).loc[ex.VARIANT_NAMES["origin"], "Berg et al. AUROC"] == pytest.approx(0.70)
    assert result.runs[0].labels.mean() == pytest.approx(0.5)


def test_mvtec_runs_every_size_with_pixel_metrics(mvtec):
    assert [r.name for r in mvtec.runs] == ["mvtec_synthetic_thesis_28", "mvtec_synthetic_full_32"]
    table = ex.results_table(mvtec.summary())
    assert list(table.index) == ["synthetic 28x28 (thesis)", "synthetic 32x32 (full)", "mean",
                                 "thesis: mean of 15 categories, 28x28"]
    pixel = table[[c for c in table.columns if c[0] == "pixel level"]]
    assert list(pixel.columns.get_level_values(1)) == ["AUROC", "AU-PRO", "PCA AUROC", "PCA AU-PRO"]
    for run, label in zip(mvtec.runs, table.index[:2]):
        m, b = run.metrics[ex.PRIMARY], run.baseline
        assert list(pixel.loc[label]) == pytest.approx([m["pixel_auroc"], m["au_pro"], b["pixel_auroc"], b["au_pro"]])
    assert table.loc["thesis: mean of 15 categories, 28x28", (ex.REPORTED, "F1")] == pytest.approx(0.7945)
    run = mvtec.runs[1]
    masks = run.split.test_masks[:, 0].numpy()
    assert run.metrics[ex.PRIMARY]["pixel_auroc"] == pytest.approx(metrics.pixel_auroc(masks, run.scores.maps))
    assert "pixel AUROC" in ex.pixel_verdict(mvtec.summary())
    assert set(ex.by_type_table(run).index) == set(run.split.test_types)


def test_page_tables_split_the_results_and_keep_only_rows_they_fill(mvtec, mnist):
    summary, runs = mvtec.summary(), ["synthetic 28x28 (thesis)", "synthetic 32x32 (full)", "mean"]
    full = ex.results_table(summary)
    base = ex.baselines_table(summary)
    assert list(base.index) == runs  # the thesis row has nothing to show here
    assert list(base.columns) == [("AUROC", "GAN"), ("AUROC", "PCA"), ("AP", "GAN"), ("AP", "PCA"),
                                  ("F1", "GAN held-out"), ("F1", "PCA held-out"), ("F1", "all anomalous")]
    assert list(base[("F1", "PCA held-out")]) == pytest.approx(list(full.loc[runs, ("PCA baseline", "F1 held-out")]))
    pixel = ex.pixel_table(summary)
    assert list(pixel.index) == runs
    assert list(pixel.loc[runs[1]]) == pytest.approx(list(full.loc[runs[1], [("pixel level", "AUROC"), (
        "pixel level", "PCA AUROC"), ("pixel level", "AU-PRO"), ("pixel level", "PCA AU-PRO")]]))
    thesis = ex.thesis_table(summary)
    assert list(thesis.index) == [*runs, "thesis: mean of 15 categories, 28x28"]
    row = thesis.iloc[-1]
    assert row.dropna().to_dict() == pytest.approx({(ex.REPORTED, "P"): 0.8112, (ex.REPORTED, "R"): 0.7784,
                                                    (ex.REPORTED, "F1"): 0.7945})  # only what the thesis reports
    assert thesis.loc[runs, ex.REPORTED].isna().all().all()  # the thesis gives no per-category figure
    assert thesis.loc["mean", (ex.HELDOUT, "F1")] == pytest.approx(full.loc["mean", (ex.HELDOUT, "F1")])
    with pytest.raises(ValueError, match="no pixel metrics"):
        ex.pixel_table(mnist.summary())


def test_style_table_shows_counts_as_integers_fractions_with_decimals_scores_to_4_digits():
    import pandas as pd

    df = pd.DataFrame({"F1": [1.0, 0.5], "n_test": [32.0, 1250.0], "hardware": ["CPU", "GPU"],
                       "mean score": [0.0071234, 0.0068]}, index=pd.Index([0.9, 0.02], name="anomalous share"))
    html = ex.style_table(df).to_html()
    cells = re.findall(r'class="(?:data|row_heading)[^"]*" >([^<]*)<', html)
    assert cells == ["0.9", "1.000", "32", "CPU", "0.007123", "0.02", "0.500", "1,250", "GPU", "0.0068"]


def test_reproduce_writes_results_json_and_pngs(env, mvtec, tmp_path):
    folder = ex.reproduce("mvtec", TINY, out_dir=tmp_path, progress=False)
    assert folder == tmp_path / "tiny" / "mvtec"
    saved = json.loads((folder / "results.json").read_text())
    assert saved["profile"]["name"] == "tiny" and saved["seeds"] == [0] and saved["wall_seconds"] >= 0
    assert saved["hardware"]["summary"] and saved["command"].endswith("--profile tiny")
    assert all(r["loaded_from_cache"] for r in saved["runs"])  # the same runs as the `mvtec` fixture
    pngs = {p.name for p in folder.glob("*.png")}
    assert {"grid_mvtec_synthetic_full_32.png", "curves_mvtec_synthetic_full_32.png",
            "hist_mvtec_synthetic_full_32.png"} <= pngs
    loaded = ex.load_results("mvtec", "tiny", out_dir=tmp_path)
    committed = ex.results_table(loaded)
    live = ex.results_table(mvtec.summary())
    assert np.allclose(_metric_values(committed), _metric_values(live))
    assert "tiny profile" in ex.provenance(loaded) and "seed(s) 0" in ex.provenance(loaded)


def test_results_dir_is_found_from_the_book_folder(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "results" / "cpu" / "mnist").mkdir(parents=True)
    (tmp_path / "results" / "cpu" / "mnist" / "results.json").write_text('{"experiment": "mnist"}')
    (tmp_path / "book").mkdir()
    monkeypatch.delenv("GANAD_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path / "book")
    assert ex.results_dir() == tmp_path / "results"
    assert ex.load_results("mnist", "cpu") == {"experiment": "mnist"}
    assert ex.committed_results("mnist", "smoke") == [("cpu", {"experiment": "mnist"}), ("full", None)]
    monkeypatch.setenv("GANAD_RESULTS", str(tmp_path / "elsewhere"))
    assert ex.load_results("mnist", "cpu") is None


def test_bigger_profiles():
    assert ex.bigger_profiles("smoke") == ["cpu", "full"]
    assert ex.bigger_profiles("cpu") == ["full"]
    assert ex.bigger_profiles("full") == []


def test_class_balance_study_keeps_auroc_and_moves_f1():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(400), np.ones(400)].astype(int)
    scores = rng.normal(size=800) + 1.5 * labels
    study = ex.class_balance_study(labels, scores, threshold=0.75, shares=(0.1, 0.5, 0.9), draws=5)
    shares = study.index.to_numpy()
    assert np.allclose(study["F1 all anomalous"], 2 * shares / (1 + shares), atol=0.01)
    assert study["F1"].is_monotonic_increasing
    assert study["AUROC"].max() - study["AUROC"].min() < 0.05


def test_contaminate_replaces_the_asked_share_and_keeps_the_test_set(env):
    split = ex.make_split("mnist", 3, TINY)
    pool = split.test[:0].new_full((40, *split.image_shape), 255)  # white images: easy to count
    dirty = ex.contaminate(split, pool, 0.2, seed=1)
    assert int((dirty.train.flatten(1) == 255).all(1).sum()) == round(0.2 * len(split.train))
    assert int((dirty.val.flatten(1) == 255).all(1).sum()) == round(0.2 * len(split.val))
    assert dirty.test is split.test and dirty.meta["contamination"] == 0.2
    assert ex.contaminate(split, pool, 0.0).train.equal(split.train)
    with pytest.raises(ValueError, match="fraction"):
        ex.contaminate(split, pool, 1.0)


def test_thesis_operating_point_and_binormal_auroc():
    d = 1.3  # equal-variance binormal: the point at threshold d / 2 has TPR = 1 - FPR = Phi(d / 2)
    assert ex.binormal_auroc(norm.cdf(d / 2), 1 - norm.cdf(d / 2)) == pytest.approx(norm.cdf(d / math.sqrt(2)))
    # 900 anomalies, 100 normals, TP = 800, FP = 20: P = 800 / 820, R = 800 / 900, FPR = 0.2
    assert ex.implied_false_positive_rate(800 / 820, 800 / 900, 0.9) == pytest.approx(0.2)
    op = ex.thesis_operating_point("cifar10", 0.5)
    assert op["f1_all_anomalous"] == pytest.approx(2 / 3)
    assert op["fpr"] == pytest.approx(0.8720 * (1 - 0.9121) / 0.9121)  # half anomalous: FPR = R (1 - P) / P
    assert op["binormal_auroc"] == pytest.approx(ex.binormal_auroc(0.8720, op["fpr"]))


def _summary(rows):
    """A minimal summary with (label digit, GAN AUROC, PCA AUROC) rows."""
    def run(k, gan, pca):
        m = {"auroc": gan, "heldout_threshold": {"f1": 0.5}, "best_test_threshold_optimistic": {"f1": 0.9},
             "trivial_all_anomalous": {"f1": 0.8}}
        return {"meta": {"dataset": "mnist", "normal_class": k}, "metrics": {ex.PRIMARY: m},
                "pca_baseline": {"auroc": pca}, "config": {"seed": 0}}
    return {"experiment": "mnist", "profile": {"name": "cpu"}, "runs": [run(*r) for r in rows]}


def test_verdicts_follow_the_numbers():
    mixed = ex.pca_verdict(_summary([(0, 0.9, 0.7), (1, 0.6, 0.8)]))
    assert "GAN is ahead" in mixed and "digit 0" in mixed and "PCA is ahead" in mixed and "digit 1" in mixed
    behind = ex.pca_verdict(_summary([(0, 0.5, 0.9)]))
    assert "On no row does the GAN beat" in behind
    assert "within" in ex.pca_verdict(_summary([(0, 0.800, 0.805)]))
    text = ex.thesis_verdict(_summary([(0, 0.9, 0.7)]))
    assert "0.500" in text and "0.900" in text and "0.988" in text and "below that trivial baseline" in text


def test_overview_table_has_one_row_per_summary_and_the_hardware_below_it():
    from ganad_lite.experiments.display import _hardware_line

    cpu = _summary([(0, 0.9, 0.7), (1, 0.7, 0.8)]) | {"wall_seconds": 553.6, "hardware": {"summary": "CPU (2 cores)"}}
    table = ex.overview_table({("mnist", "cpu"): cpu})
    assert list(table.index) == [("mnist", "cpu")]
    assert table.loc[("mnist", "cpu")].to_dict() == pytest.approx({
        ("AUROC", "GAN"): 0.8, ("AUROC", "PCA"): 0.75, ("F1", "held-out"): 0.5, ("F1", "optimistic"): 0.9,
        ("F1", "all anomalous"): 0.8, ("F1", "thesis"): 0.9876, ("budget", "runs"): 2,
        ("budget", "wall time (s)"): 554})
    both = {("mnist", "cpu"): cpu, ("cifar10", "cpu"): cpu, ("mnist", "full"): cpu | {"hardware": {"summary": "GPU"}}}
    assert _hardware_line(both) == "Hardware: CPU (2 cores) for mnist (cpu), cifar10 (cpu); GPU for mnist (full)."


def test_curve_reading_and_errors(mnist):
    assert ex.curve_reading(mnist.runs[0], TINY).startswith("Only")  # one generator step: no trend to read
    with pytest.raises(ValueError, match="unknown experiment"):
        ex.make_split("svhn", 0, TINY)
    with pytest.raises(ValueError, match="unknown experiment"):
        ex.run_experiment("svhn", TINY)


def test_discussion_paragraphs_follow_the_numbers():
    assert ex.mvtec_test_share() == pytest.approx(1258 / 1725)
    ops = {e: ex.thesis_operating_point(e, p) for e, p in {"mnist": 0.9, "cifar10": 0.5, "mvtec": 0.73}.items()}
    # thesis F1 against the all-anomalous F1 2p / (1 + p): MNIST 0.9876 > 0.947, CIFAR-10 0.8916 > 0.667,
    # MVTec AD 0.7945 < 0.844
    assert ex.floor_verdict(ops).startswith("Applied to the thesis: its reported F1 is above the all-anomalous "
                                            "floor on MNIST, CIFAR-10 and below it on MVTec AD")
    assert "+0.040 relative to the all-anomalous F1 on MNIST" in ex.floor_note(ops)
    table = ex.operating_point_table({"mnist": 0.9, "cifar10": 0.5})
    assert list(table.index) == ["mnist", "cifar10"]
    assert table.loc["cifar10", "implied false-positive rate"] == pytest.approx(ops["cifar10"]["fpr"])
    assert table.loc["mnist", "F1 all anomalous"] == pytest.approx(1.8 / 1.9)


def _beyond_summary(rows, pixel=False, experiment="mnist"):
    """A summary whose runs carry the thesis primary, `selected` and PCA: rows of (normal class, seed, selected
    AUROC, L_n AUROC, PCA AUROC); the candidates' AUROCs on synthetic defects are 0.60, 0.65, ... in order."""
    def metric(auroc):
        m = {"auroc": auroc, "average_precision": auroc, "heldout_threshold": {"f1": 0.5},
             "best_test_threshold_optimistic": {"f1": 0.9}, "trivial_all_anomalous": {"f1": 0.8}}
        return {**m, "pixel_auroc": auroc - 0.1, "au_pro": auroc - 0.2} if pixel else m

    def run(k, seed, selected, residual, pca):
        on_defects = {c: 0.6 + 0.05 * i for i, c in enumerate(CANDIDATES)}
        meta = ({"dataset": "mvtec", "normal_class": k, "size": 64, "mode": "full"} if experiment == "mvtec"
                else {"dataset": "mnist", "normal_class": k})
        return {"meta": meta, "config": {"seed": seed}, "pca_baseline": metric(pca),
                "metrics": {ex.PRIMARY: metric(residual),
                            "selected": {**metric(selected), "selected_from": "ssim_max",
                                         "selection_auroc": on_defects}}}
    return {"experiment": experiment, "profile": {"name": "cpu"}, "runs": [run(*r) for r in rows]}


# two digits x two seeds: per-seed means of selected 0.80 / 0.82, of L_n 0.70 / 0.70, of PCA 0.875 / 0.875
TWO_SEEDS = [(0, 0, 0.9, 0.8, 0.85), (1, 0, 0.7, 0.6, 0.9), (0, 1, 0.92, 0.78, 0.85), (1, 1, 0.72, 0.62, 0.9)]


def test_beyond_thesis_verdict_follows_the_numbers():
    text = ex.beyond_thesis_verdict(_beyond_summary(TWO_SEEDS))
    assert "mean AUROC of 0.810 ± 0.014 over 2 seeds" in text  # sd of (0.80, 0.82) = 0.01414
    assert "0.700 ± 0.000 for the thesis primary L_n and 0.875 ± 0.000 for PCA" in text
    assert "ahead of L_n by 0.110 (ahead in 2 of 2 seeds)" in text
    assert "behind PCA by 0.065 (ahead in 0 of 2 seeds)" in text and "pixel" not in text
    one = ex.beyond_thesis_verdict(_beyond_summary([(0, 0, 0.9, 0.8, 0.95)], pixel=True, experiment="mvtec"))
    assert "0.900 with one seed" in one and "ahead of L_n by 0.100 and behind PCA by 0.050." in one
    assert ("AUROC 0.800 and AU-PRO 0.700, against 0.700 and 0.600 for the residual maps of L_n and 0.850 and "
            "0.750 for PCA's") in one
    old = _summary([(0, 0.9, 0.7)])  # written before `selected` existed
    assert not ex.has_selected(old) and ex.beyond_thesis_verdict(old).startswith("This summary has no `selected`")
    assert "averaged" not in text  # these runs have no ensemble


def test_beyond_thesis_verdict_reports_the_later_ensemble_as_not_fixed_in_advance():
    summary = _beyond_summary(TWO_SEEDS)
    for r, ens in zip(summary["runs"], (0.95, 0.75, 0.93, 0.77)):  # per-seed means 0.85 and 0.85
        r["metrics"][ENSEMBLE] = {"auroc": ens}
    text = ex.beyond_thesis_verdict(summary)
    assert "added after the test results above were read, so it is not a result fixed in advance" in text
    assert "its mean AUROC is 0.850 ± 0.000, ahead of `selected` by 0.040 (ahead in 2 of 2 seeds)" in text
    assert "behind PCA by 0.025 (ahead in 0 of 2 seeds)." in text


def test_gan_pca_note_names_the_rows_on_each_side():
    rows = [(0, 0, 0.85, 0.9, 0.85), (1, 0, 0.7, 0.86, 0.855), (2, 0, 0.7, 0.8, 0.9)]
    note = ex.gan_pca_note(_beyond_summary(rows))
    assert note.startswith("**MNIST** (cpu profile, 1 seed(s), 3 row(s)): the thesis primary L_n (mean AUROC "
                           "0.853 against PCA's 0.868) is ahead of PCA on 1 of 3 row(s) (digit 0), behind on 1 "
                           "(digit 2) and within 0.01 on 1 (digit 1)")
    assert "the selected score (mean AUROC 0.750 against PCA's 0.868) is behind PCA on 2 of 3 row(s)" in note
    assert "PCA is ahead of both on 1 row(s) (digit 2); at least one GAN score beats it on 1 row(s) (digit 0)." in note
    assert "has no `selected` score" in ex.gan_pca_note(_summary([(0, 0.9, 0.7)]))
    assert "z-scores" not in note  # these runs have no ensemble
    summary = _beyond_summary(rows)
    for r, ens in zip(summary["runs"], (0.95, 0.86, 0.7)):
        r["metrics"][ENSEMBLE] = {"auroc": ens}
    assert ex.gan_pca_note(summary).endswith(
        "The mean of the candidates' z-scores (mean AUROC 0.837 against PCA's 0.868) is ahead of PCA on 1 of 3 "
        "row(s) (digit 0), behind on 1 (digit 2) and within 0.01 on 1 (digit 1); it is a rule added after the test "
        "results were read, not fixed in advance.")


def test_selection_table_shows_what_the_choice_saw_and_the_test_result():
    table = ex.selection_table(_beyond_summary(TWO_SEEDS))
    assert list(table.index) == ["digit 0, seed 0", "digit 1, seed 0", "digit 0, seed 1", "digit 1, seed 1"]
    assert list(table[("selected", "candidate")]) == ["ssim_max"] * 4
    defects = table[[c for c in table.columns if c[0] == DEFECTS]]
    assert list(defects.columns.get_level_values(1)) == list(CANDIDATES)
    assert list(defects.iloc[0]) == pytest.approx([0.60, 0.65, 0.70, 0.75, 0.80])
    assert list(table.loc["digit 1, seed 1", "test AUROC"]) == pytest.approx([0.72, 0.62])
    assert list(table["test AUROC"].columns) == ["selected", "L_n"]
    one_seed = _beyond_summary(TWO_SEEDS[:2])
    assert list(ex.selection_table(one_seed).index) == ["digit 0", "digit 1"]  # one seed: said once, in the header
    assert ex.selection_table(one_seed).index.name == "normal class (seed 0)"
    with pytest.raises(ValueError, match="no `selected` score"):
        ex.selection_table(_summary([(0, 0.9, 0.7)]))


def _fake_run(selected_from, masks=True):
    """A OneClassResult without a detector: 8 test images 1x16x16 (4 normal, 4 anomalous) whose maps are
    constant, 1 for the berg residual, 2 for SSIM, 3 for gradient magnitude, 4 for the berg+izif residual."""
    from ganad_lite.data import Split
    from ganad_lite.scoring import Scores

    test = torch.randint(0, 255, (8, 1, 16, 16), dtype=torch.uint8)
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    split = Split(test[:2], test[:2], test, labels, test_masks=(test > 200).to(torch.uint8) if masks else None,
                  name="fake")
    recon, ones = test.numpy() / 255.0, np.ones((8, 16, 16))

    def scores(residual_map, structural=None):
        return Scores(np.zeros(8), np.zeros(8), np.zeros((8, 2)), maps=residual_map * ones, recon=recon,
                      structural=structural)
    berg = scores(1.0)
    by_encoder = {"berg": berg, "izif": scores(5.0), "berg+izif": scores(4.0, {"ssim": 2 * ones, "gms": 3 * ones})}
    return ex.OneClassResult("fake", split, None, berg, berg, {"selected": {"selected_from": selected_from}}, {},
                             by_encoder=by_encoder)


def test_beyond_figures_show_the_thesis_method_then_the_selected_maps():
    def map_scale(fig):  # the colour scale of the map row: the largest map value shown
        return fig.axes[2].images[0].get_clim()[1]
    figs = ex.beyond_figures(_fake_run("ssim_max"))
    assert list(figs) == ["thesis", "selected", "gms"]  # the SSIM map is the selected one already
    assert [map_scale(f) for f in figs.values()] == [1.0, 2.0, 3.0]
    assert "selected: ssim_max: berg+izif encoder, 1 - SSIM map" in figs["selected"]._suptitle.get_text()
    assert [f.axes[2].get_ylabel() for f in figs.values()] == ["residual map", "1 - SSIM", "1 - GMS"]
    figs = ex.beyond_figures(_fake_run("berg+izif", masks=False))
    assert list(figs) == ["thesis", "selected"] and map_scale(figs["selected"]) == 4.0  # its encoder's residual
    assert len(figs["thesis"].axes) == 3  # input, reconstruction, map: no mask rows without masks


def test_every_name_the_chapters_use_exists():
    book = Path(__file__).resolve().parents[1] / "book"
    used = set()
    for notebook in book.glob("*.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        used |= set(re.findall(r"\bex\.([A-Za-z_]\w*)", code))
    assert {"make_split", "run_experiment", "show_committed"} <= used  # the experiment chapters were read
    assert sorted(name for name in used if not hasattr(ex, name)) == []


def test_augment_study_table_averages_seeds_and_names_the_choice(tmp_path):
    row = dict(validation_auroc=0.8, test_auroc=0.9, test_pixel_auroc_ssim=0.7, test_au_pro_ssim=0.5, train_seconds=10)
    study = {"seeds": [0, 1], "chosen": "none", "rows": {
        "none": [row, {**row, "validation_auroc": 0.9}], "translation+color": [{**row, "test_auroc": 0.95}] * 2}}
    table = ex.augment_study_table(study)
    assert table.loc["none", "AUROC on synthetic defects (chose)"] == pytest.approx(0.85)
    assert table["test AUROC"].idxmax() == "translation+color" and "seeds 0, 1" in table.index.name
    folder = tmp_path / "cpu" / "studies"
    folder.mkdir(parents=True)
    study.update(hardware={"summary": "CPU"}, n_train=188, epochs=300, generator_steps_per_epoch=2,
                 date="2026-12-02", command="python scripts/augment_study.py")
    (folder / "augment_mvtec_bottle_64.json").write_text(json.dumps(study))
    ex.show_augment_study(out_dir=tmp_path)  # displays without error
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from augment_study import choose
    assert choose(study["rows"]) == {"chosen": "none", "tied": []}  # 0.85 against 0.8
    better = {"none": [row], "translation+color": [{**row, "validation_auroc": 0.9}]}
    assert choose(better) == {"chosen": "translation+color", "tied": []}
    tie = {"none": [row], "translation+color": [{**row, "test_auroc": 0.95}]}
    assert choose(tie) == {"chosen": "none", "tied": ["none", "translation+color"]}  # a tie keeps the default
    # judged on the small planted defects, with the large ones' figure recorded beside
    small = {**study, "planted": "small", "rows": {k: [{**r, "validation_auroc_large_defects": 1.0} for r in v]
                                                   for k, v in study["rows"].items()}}
    table = ex.augment_study_table(small)
    assert list(table.columns[:2]) == ["AUROC on small synthetic defects (chose)", "AUROC on large synthetic defects"]
    assert table.iloc[0, 0] == pytest.approx(0.85)
    from ganad_lite.experiments.display import choice_sentence
    assert choice_sentence(small, "none").startswith("Chosen on the small synthetic defects: **none**")
    (folder / "augment_mvtec_bottle_64.json").write_text(json.dumps(small))
    assert "chosen on the small synthetic defects: `none`" in ex.studies_note(out_dir=tmp_path)


def test_tie_note_counts_choices_tied_on_the_planted_defects():
    from ganad_lite.experiments.prose import tie_note

    def run(values, n_val=21):
        return {"metrics": {"selected": {"selection_auroc": values}}, "meta": {"n_val": n_val}}
    assert tie_note({"runs": [run({"ssim": 0.9, "gms": 0.8})]}) == ""
    note = tie_note({"runs": [run({"ssim": 1.0, "gms": 1.0}), run({"ssim": 0.9, "gms": 0.8}, 10)]})
    assert "In 1 of 2 runs the choice was a tie" in note and "slices of 10 good images" in note
    assert "small planted defects" not in note  # runs without the later rule
    runs = [run({"ssim": 1.0, "gms": 1.0}), run({"ssim": 1.0, "gms": 1.0})]
    for r, a in zip(runs, (0.8, 0.9)):
        r["metrics"]["selected"]["auroc"] = a
        r["metrics"]["selected_small"] = {"selection_auroc": {"ssim": 0.99, "gms": 0.95}, "auroc": a + 0.1}
    note = tie_note({"runs": runs})
    assert "the choice was a tie in 0 of 2 runs, and the chosen scores reach a mean test AUROC of 0.950, " \
           "against 0.850 for `selected`" in note


def test_dead_share_counts_relu_units_that_never_fire():
    from torch import nn
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from activation_study import dead_share
    g = nn.Sequential(nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 2), nn.Sigmoid())
    with torch.no_grad():
        g[0].bias[:3] = -1e3  # three of ten units are below zero for every code
    assert dead_share(g, 4) == pytest.approx(0.3)
    leaky = nn.Sequential(nn.Linear(4, 10), nn.LeakyReLU(0.2), nn.Linear(10, 2), nn.Sigmoid())
    assert dead_share(leaky, 4) is None


def _patch_row(seed, patch_auroc, tied=()):
    figs = lambda a: {"auroc": a, "average_precision": a, "pixel_auroc": a - 0.1, "au_pro": a - 0.2}  # noqa: E731
    return {"seed": seed, "n_crops": 100, "generator_steps": 40, "selected_from": "residual_mean", "tied": list(tied),
            "selected": figs(patch_auroc), "thesis_encoder": figs(0.5), "pca_patches": figs(0.4),
            "pca_whole_image": figs(0.95),
            "whole_image_64": {"auroc": 0.88, "average_precision": 0.9, "ssim_pixel_auroc": 0.9, "ssim_au_pro": 0.7}}


def test_patch_study_table_averages_seeds_and_the_verdict_follows_the_numbers(tmp_path):
    from ganad_lite.experiments.display import patch_verdict

    study = {"category": "bottle", "size": 256, "patch": 32, "stride": 16, "seeds": [0, 1],
             "rows": [_patch_row(0, 0.6, tied=["ssim_mean"]), _patch_row(1, 0.7)]}
    table = ex.patch_study_table(study)
    patch = table.loc["patch GAN, score chosen on synthetic defects"]
    assert patch["image AUROC"] == pytest.approx(0.65) and patch["AU-PRO"] == pytest.approx(0.45)
    assert patch["image AUROC sd"] == pytest.approx(np.std([0.6, 0.7], ddof=1))
    whole = table.loc["whole-image GAN at 64x64 (selected; SSIM map upsampled)"]
    assert whole["pixel AUROC"] == pytest.approx(0.9) and "seeds 0, 1" in table.index.name
    verdict = patch_verdict(study, table)
    assert "a tie with another candidate in 1 of 2 seeds" in verdict and "image AUROC 0.650" in verdict
    assert "Both models that see only a crop" in verdict  # both patch models lose: the reason is given
    study["rows"] = [_patch_row(0, 0.95), _patch_row(1, 0.95)]
    verdict = patch_verdict(study, ex.patch_study_table(study))
    assert "tie" not in verdict and "Both models" not in verdict  # the patch GAN wins: no excuse is printed
    folder = tmp_path / "cpu" / "studies"
    folder.mkdir(parents=True)
    study.update(hardware={"summary": "CPU"}, date="2026-12-02", command="python scripts/patch_study.py")
    (folder / "patch_mvtec_bottle_256.json").write_text(json.dumps(study))
    ex.show_patch_study(out_dir=tmp_path)  # displays without error
    ex.show_patch_study(size=128, out_dir=tmp_path)  # not committed: says how to make it


def test_patch_study_scores_every_candidate_from_stitched_maps():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from patch_study import CANDIDATES, image_scores, map_figures, window_maps

    q = torch.rand(4, 3, 16, 16)
    maps = window_maps(q, q.clone())
    assert maps.shape == (4, 3, 16, 16) and maps.abs().max() < 1e-5  # a perfect reconstruction: no dissimilarity
    stitched = torch.zeros(6, 3, 32, 32)
    stitched[3:, :, 4:10, 4:10] = 1.0  # three "defective" images, their defects where the masks are
    scores = image_scores(stitched)
    assert sorted(scores) == sorted(CANDIDATES) and scores["ssim_mean"][3] == pytest.approx(36 / 1024)
    masks = (stitched[:, 0] > 0).numpy()
    figs = map_figures(np.r_[0, 0, 0, 1, 1, 1], masks, stitched, stitched[:3])
    assert figs["gms_smooth_max"]["auroc"] == 1.0 and figs["residual_mean"]["pixel_auroc"] == 1.0


def test_search_rows_are_measured_on_a_stratified_part_of_the_test_set(mnist):
    for run in mnist.runs:
        for name in SEARCH_VARIANTS:
            m = run.metrics[name]
            assert m["n_test"] == min(300, len(run.split.test)) and 0 < m["n_anomalous"] < m["n_test"]
            assert m["search_steps"] == TINY.search_steps
    table = ex.variants_table(mnist.summary())
    n = mnist.runs[0].metrics["search"]["n_test"]
    label = f"latent search: L_n (no encoder) (on {n} test images a run)"
    assert table.loc[label, "AUROC"] == pytest.approx(np.mean([r.metrics["search"]["auroc"] for r in mnist.runs]))
    assert table.loc[label, "encoder"] == "search" and not table.loc[label, "thesis"]


def test_search_scores_are_cached_by_images_weights_and_settings(mnist):
    det = mnist.runs[0].detector
    images = mnist.runs[0].split.val[:6]
    first = cached_search_scores(det, images, "hybrid", steps=2, restarts=1, seed=0)
    files = sorted(det.run_dir.glob("scores-hybrid-*.npz"))
    again = cached_search_scores(det, images, "hybrid", steps=2, restarts=1, seed=0)
    assert np.array_equal(first.residual, again.residual) and np.array_equal(first.feature, again.feature)
    assert sorted(det.run_dir.glob("scores-hybrid-*.npz")) == files  # read back, not written again
    cached_search_scores(det, images, "hybrid", steps=3, restarts=1, seed=0)
    assert len(list(det.run_dir.glob("scores-hybrid-*.npz"))) == len(files) + 1  # other settings: another file
    fresh = det.score_terms(images, method="hybrid", encoder="berg+izif", hybrid_steps=2, keep_maps=False)
    assert np.allclose(first.izif_score(), fresh.izif_score())  # the cache holds what scoring gives


def test_run_scores_are_cached_with_maps_and_keyed_by_weights_and_options(mnist):
    det = mnist.runs[0].detector
    images = mnist.runs[0].split.test[:5]
    before = set(det.run_dir.glob("scores-berg_izif-*.npz"))
    first = cached_score_terms(det, images, "berg+izif", structural=True, keep_recon=True)
    written = set(det.run_dir.glob("scores-berg_izif-*.npz")) - before
    again = cached_score_terms(det, images, "berg+izif", structural=True, keep_recon=True)
    assert len(written) == 1 and set(det.run_dir.glob("scores-berg_izif-*.npz")) - before == written
    for name in ("residual", "origin", "z", "maps", "recon", "feature", "pixel_error"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    assert np.array_equal(first.map("gms"), again.map("gms")) and again.standardizer is det.standardizer
    next(iter(written)).write_bytes(b"damaged")
    mended = cached_score_terms(det, images, "berg+izif", structural=True, keep_recon=True)
    assert np.array_equal(mended.recon, first.recon)  # a damaged file is scored again, not a crash
    cached_score_terms(det, images, "berg+izif", structural=False)  # other options: another file
    assert len(set(det.run_dir.glob("scores-berg_izif-*.npz")) - before) == 2
    fresh = det.score_terms(images, encoder="berg+izif", structural=True)
    assert np.allclose(fresh.map("ssim"), again.map("ssim")) and np.allclose(fresh.residual, again.residual)
    with torch.no_grad():
        next(det.encoders["berg+izif"].parameters()).add_(0.01)  # new weights: the old file is not read
    try:
        moved = cached_score_terms(det, images, "berg+izif", structural=True, keep_recon=True)
        assert not np.array_equal(moved.z, first.z)
        now = set(det.run_dir.glob("scores-berg_izif-*.npz")) - before
        assert len(now) == 2 and not written & now  # the file of the old weights was replaced, not kept beside
    finally:
        with torch.no_grad():
            next(det.encoders["berg+izif"].parameters()).sub_(0.01)


def test_latent_norm_study_names_an_unknown_experiment():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from latent_norm_study import main

    with pytest.raises(SystemExit):
        main(["--experiments", "mnist,svhn"])


def test_option_study_table_averages_the_classes_and_names_the_choice(tmp_path):
    from ganad_lite.experiments.display import choice_sentence

    row = dict(normal_class=0, validation_auroc=0.8, test_auroc=0.9, test_auroc_L_n=0.7, test_auroc_L_o=0.5)
    study = {"seeds": [0], "chosen": "none", "tied": [], "rows": {
        "none": [row, {**row, "validation_auroc": 0.9}], "pixel": [{**row, "test_auroc_L_o": 0.7}] * 2}}
    from ganad_lite.experiments.display import option_study_table

    table = option_study_table(study)
    assert table.loc["none", "AUROC on synthetic defects (chose)"] == pytest.approx(0.85)
    assert table.loc["pixel", "test AUROC, L_o"] == pytest.approx(0.7)
    assert "dead ReLU units" not in table.columns and "(2 normal classes, seed 0)" in table.index.name
    assert choice_sentence(study, "none") == "Chosen on the synthetic defects: **none** (the test set agrees)."
    assert "pixel has the best image AUROC" in choice_sentence(study, "pixel")
    assert "pixel has the best test AUROC" in choice_sentence(study, "pixel", what="test AUROC")
    folder = tmp_path / "cpu" / "studies"
    folder.mkdir(parents=True)
    study.update(hardware={"summary": "CPU"}, date="2026-12-02", command="python scripts/latent_norm_study.py")
    (folder / "latent_norm_mnist.json").write_text(json.dumps(study))
    command = "python scripts/latent_norm_study.py"
    ex.show_option_study("latent_norm_mnist", command, out_dir=tmp_path)  # displays without error
    ex.show_option_study("latent_norm_cifar10", command, out_dir=tmp_path)  # not committed: says so


def test_studies_note_says_what_each_committed_study_chose(tmp_path):
    folder = tmp_path / "cpu" / "studies"
    folder.mkdir(parents=True)
    assert "No studies committed" in ex.studies_note(out_dir=tmp_path)
    row = dict(validation_auroc=0.80, test_auroc=0.9)
    option = {"seeds": [0], "chosen": "pixel", "tied": [],
              "rows": {"none": [row], "pixel": [{**row, "validation_auroc": 0.84, "test_auroc": 0.85}]}}
    (folder / "latent_norm_cifar10.json").write_text(json.dumps(option))
    pixel = dict(test_pixel_auroc_ssim=0.7, test_au_pro_ssim=0.5)  # what an augmentation study row also holds
    augment = {"chosen": "none", "tied": ["none", "translation+color"], "seeds": [0], "rows": {
        "none": [{**row, **pixel}], "translation+color": [{**row, **pixel, "test_auroc": 0.95}]}}
    (folder / "augment_mvtec_bottle_64.json").write_text(json.dumps(augment))
    patch = {"category": "bottle", "size": 256, "seeds": [0], "rows": [_patch_row(0, 0.6)]}
    (folder / "patch_mvtec_bottle_256.json").write_text(json.dumps(patch))
    note = ex.studies_note(out_dir=tmp_path)
    assert "`pixel` (by 0.040 over `none`, which the profiles keep)" in note and "none 0.900, pixel 0.850" in note
    assert "a tie of none, translation+color, so the default" in note and "translation+color 0.950" in note
    assert "scored at 256x256**: test image AUROC 0.600, against 0.880" in note and "0.950 for PCA" in note
    assert "MNIST" not in note and "128x128" not in note  # only what is committed


def test_studies_note_reports_the_selection_study(tmp_path):
    folder = tmp_path / "cpu" / "studies"
    folder.mkdir(parents=True)
    mean = {"standard": {"ties": 6, "test_auroc_of_chosen": 0.872}, "small": {"ties": 0, "test_auroc_of_chosen": 0.944}}
    (folder / "selection_mvtec.json").write_text(json.dumps({"n_runs": 6, "mean": mean}))
    note = ex.studies_note(out_dir=tmp_path)
    assert "(6 runs, a rule added after the test results were read): ties 6 -> 0" in note
    assert "chosen candidate 0.872 -> 0.944" in note


def test_runs_in_worker_processes_equal_runs_in_one_process(env, tmp_path):
    """Workers train and score into the run cache and the loop reads back: the same metrics as one process,
    reported as trained (not cached); a second call finds everything trained and starts no worker."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same thread count in every process, whatever the machine
    try:
        one = ex.run_mnist(TINY, digits=[2, 3], progress=False, cache_dir=tmp_path / "one", workers=1)
        many = ex.run_mnist(TINY, digits=[2, 3], progress=False, cache_dir=tmp_path / "many", workers=2)
        again = ex.run_mnist(TINY, digits=[2, 3], progress=False, cache_dir=tmp_path / "many", workers=2)
        torch.set_num_threads(2)  # a reader with more threads than the training had
        next(iter((tmp_path / "one").glob("*/run.json"))).write_text("{not json")  # one record unreadable
        read = ex.run_mnist(TINY, digits=[2, 3], progress=False, cache_dir=tmp_path / "one", workers=1)
    finally:
        torch.set_num_threads(threads)
    assert many.hardware["workers"] == 2 and "workers" not in one.hardware and "workers" not in again.hardware
    # a warm read names what trained the runs (1 torch thread), not the reader's threads
    assert read.hardware["threads"] == 2 and "1 torch thread)" in read.hardware["summary"]
    assert sorted(r.detector.train_hardware is None for r in read.runs) == [False, True]
    assert "1 torch thread)" in again.hardware["summary"]  # the workers' runs: 1 thread each
    assert [r.detector.loaded_from_cache for r in many.runs] == [False, False]
    assert [r.detector.loaded_from_cache for r in again.runs] == [True, True]
    for a, b, c in zip(one.runs, many.runs, again.runs):
        assert a.metrics == b.metrics == c.metrics and a.baseline == b.baseline


def test_run_workers_follow_the_device_the_jobs_and_the_environment(monkeypatch):
    monkeypatch.delenv("GANAD_WORKERS", raising=False)
    threads = torch.get_num_threads()
    assert ex.runs.run_workers(10, "cpu") == min(10, threads)
    assert ex.runs.run_workers(1, "cpu", workers=4) == 1      # never more workers than runs
    assert ex.runs.run_workers(10, "cpu", workers=3) == 3
    monkeypatch.setenv("GANAD_WORKERS", "1")
    assert ex.runs.run_workers(10, "cpu") == 1
    monkeypatch.setenv("GANAD_WORKERS", "two")
    with pytest.raises(ValueError, match="GANAD_WORKERS"):
        ex.runs.run_workers(10, "cpu")
    with pytest.raises(ValueError, match="at least 1"):
        ex.runs.run_workers(10, "cpu", workers=0)
