"""The book's experiments: the thesis protocols on MNIST, CIFAR-10 and MVTec AD, evaluated honestly.

Each one-class run trains a detector with the active profile (cached on disk), scores the test set with the
encoder, and reports for several score variants: AUROC, average precision, P/R/F1 at a threshold taken from
held-out NORMAL training images (no test labels), P/R/F1 at the best test threshold (optimistic), the trivial
"everything is anomalous" baseline, and a PCA reconstruction-error baseline on the same split.
`reproduce` writes all of it to results/<profile>/<experiment>/ (results.json and PNG figures).

The tables and sentences a chapter shows are built from a run *summary* (a dict: `ExperimentResult.summary()`
for a live run, or a committed results.json), so live and committed results are reported the same way.

Modules: protocol (score variants, the thesis's protocols and numbers), runs (training and evaluating runs,
`reproduce`), workers (untrained runs side by side in worker processes), prefill (every run of the book, trained
before the chapters), results (results on disk, provenance), scorecache (scores kept in a run's folder), tables,
prose (verdicts, curve readings, banners), discussion (the chapters' discussion paragraphs), figures, studies
(class balance, thresholds, contamination) and display (notebook helpers). Every public name is importable from
this package.
"""
from .discussion import (anomalous_share, balance_note, cifar10_pca_note, cifar10_thesis_note, contamination_note,
                         floor_note, floor_verdict, gan_pca_note, mnist_threshold_note, mvtec_f1_note, quantile_note,
                         studies_note)
from .display import (augment_study_table, describe_split, patch_study_table, selection_table, show_augment_study,
                      show_committed, show_option_study, show_overview, show_patch_study)
from .figures import (beyond_figures, by_type_figure, figures, histogram_figure, pick_examples, reconstruction_figure,
                      sample_figure, trivial_f1_figure, variant_figure)
from .prose import (beyond_thesis_verdict, curve_reading, has_selected, pca_verdict, pixel_verdict, profile_banner,
                    thesis_verdict)
from .protocol import (EXPERIMENT_NAMES, EXPERIMENTS, MVTEC_AD_TEST_COUNTS, PRIMARY, QUANTILE, THESIS,
                       THESIS_HARDWARE, THESIS_PROTOCOL, THESIS_WIDTH, VARIANT_NAMES, VARIANTS, binormal_auroc,
                       check_experiment, implied_false_positive_rate, mvtec_test_share, thesis_operating_point)
from .results import (bigger_profiles, committed_results, jsonable, load_results, provenance, result_figures,
                      results_dir, scrub_paths)
from .prefill import PrefillReport, book_runs, prefill_book
from .scorecache import cached_score_terms
from .runs import (RUNNERS, ExperimentResult, OneClassResult, cifar10_classes_available, experiment_keys, make_split,
                   monitoring_set, mvtec_keys, reproduce, run_cifar10, run_experiment, run_mnist, run_mvtec, run_one,
                   seed_means)
from .studies import class_balance_study, contaminate, contaminated, contamination_study, quantile_study
from .tables import (HELDOUT, OPTIMISTIC, REPORTED, baselines_table, budget_table, by_type_table,
                     operating_point_table, overview_table, pixel_table, protocol_table, results_table, run_label,
                     style_table, thesis_table, variants_table)

__all__ = [
    "EXPERIMENTS", "EXPERIMENT_NAMES", "ExperimentResult", "HELDOUT", "MVTEC_AD_TEST_COUNTS", "OPTIMISTIC",
    "OneClassResult", "PRIMARY", "PrefillReport", "QUANTILE", "REPORTED", "RUNNERS", "THESIS", "THESIS_HARDWARE",
    "THESIS_PROTOCOL", "THESIS_WIDTH", "VARIANTS", "VARIANT_NAMES", "anomalous_share", "augment_study_table",
    "balance_note", "baselines_table", "beyond_figures", "beyond_thesis_verdict", "bigger_profiles",
    "binormal_auroc", "book_runs", "budget_table", "by_type_figure", "by_type_table", "cached_score_terms",
    "check_experiment", "cifar10_classes_available", "cifar10_pca_note", "cifar10_thesis_note",
    "class_balance_study", "committed_results", "contaminate", "contaminated", "contamination_note",
    "contamination_study", "curve_reading", "describe_split", "experiment_keys", "figures", "floor_note",
    "floor_verdict", "gan_pca_note", "has_selected", "histogram_figure", "implied_false_positive_rate", "jsonable",
    "load_results", "make_split", "mnist_threshold_note", "monitoring_set", "mvtec_f1_note", "mvtec_keys",
    "mvtec_test_share", "operating_point_table", "overview_table", "patch_study_table", "pca_verdict",
    "pick_examples", "prefill_book", "pixel_table", "pixel_verdict", "profile_banner", "protocol_table",
    "provenance", "quantile_note", "quantile_study", "reconstruction_figure", "reproduce", "result_figures",
    "results_dir", "results_table", "run_cifar10", "run_experiment", "run_label", "run_mnist", "run_mvtec",
    "run_one", "sample_figure", "scrub_paths", "seed_means", "selection_table", "show_augment_study",
    "show_committed", "show_option_study", "show_overview", "show_patch_study", "studies_note", "style_table",
    "thesis_operating_point", "thesis_table", "thesis_verdict", "trivial_f1_figure", "variant_figure",
    "variants_table",
]
