#!/usr/bin/env python3
"""Patch-based training and scoring at a higher resolution, beside whole-image 64x64 training and PCA.

MVTec AD bottle at --size pixels (256: the resolution most MVTec results are given at) is too large for the
whole-image GAN of this profile, and its ~190 training images are few samples. Here the same WGAN-GP + encoder
trains on --crops random --patch x --patch crops of them instead (as the SSIM autoencoder of Bergmann et al.
2019 does), for about --steps generator steps; an izif-refined encoder then reconstructs every window of a test
image (stride --stride) and the window maps are stitched back at full resolution (`patches.stitched_maps`).

Everything that needs a choice is chosen without test labels, as for the whole-image runs: the izif checkpoints
on held-out normal crops with planted defects, the image score (map x reduction) on held-out normal images at
full resolution with planted defects. Test figures (image AUROC / AP, pixel AUROC, AU-PRO) are written for the
chosen score and for every candidate, beside: the whole-image 64x64 detector of chapter 08 on the same images
(loaded from the run cache, its maps upsampled to --size for the pixel metrics), a 32-component PCA of the
whole --size images, and the same PCA fitted on the crops and stitched like the GAN. Writes
results/<profile>/studies/patch_mvtec_<category>_<size>.json (profile, hardware, seeds, command) and a figure.

Usage: GANAD_DATA=<datasets> python scripts/patch_study.py [--profile cpu] [--seeds 0] [--size 256]
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from ganad_lite import GANAD, get_profile, hardware_info
from ganad_lite.baselines import PCABaseline
from ganad_lite.config import generator_steps_per_epoch
from ganad_lite.defects import defect_validation_set
from ganad_lite.experiments import make_split, results_dir, run_one
from ganad_lite.experiments.results import jsonable
from ganad_lite.experiments.variants import best_ties
from ganad_lite.experiments.protocol import QUANTILE
from ganad_lite.metrics import au_pro, auroc, evaluate, pixel_auroc
from ganad_lite.patches import random_crops, stitched_maps
from ganad_lite.structural import gms_map, reduce_map, ssim_map, ssim_window

MAPS = ("residual", "ssim", "gms")
REDUCTIONS = ("mean", "smooth_max")
CANDIDATES = {f"{m}_{r}": (m, r) for m in MAPS for r in REDUCTIONS}  # what the image score is chosen from


def window_maps(q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(M, 3, s, s): squared residual, 1 - SSIM and 1 - multi-scale GMS of each window, in MAPS order."""
    residual = (q - r).square().mean(1)
    return torch.stack([residual, ssim_map(q, r, ssim_window(q.shape[-1])), gms_map(q, r, (1, 2, 4))], 1)


def gan_reconstruct(det: GANAD, encoder: str):
    g, e = det.generator, det.encoders[encoder]
    device = next(g.parameters()).device
    return lambda q: g(e(q.to(device)).float()).float().cpu()


def pca_reconstruct(pca: PCABaseline):
    def reconstruct(q: torch.Tensor) -> torch.Tensor:
        x = q.flatten(1).numpy()
        return torch.from_numpy(pca.pca_.inverse_transform(pca.pca_.transform(x))).float().view_as(q)
    return reconstruct


def image_scores(maps: torch.Tensor) -> dict[str, np.ndarray]:
    """Every candidate image score (N,) from stitched maps (N, 3, H, W)."""
    return {name: reduce_map(maps[:, MAPS.index(m)], r).numpy() for name, (m, r) in CANDIDATES.items()}


def test_figures(labels, masks, scores: np.ndarray, normal: np.ndarray, maps: torch.Tensor) -> dict:
    """Image AUROC / AP / held-out F1 of one score, pixel AUROC and AU-PRO of its map (N, H, W), on the test set."""
    e = evaluate(labels, scores, normal, QUANTILE)
    maps = np.asarray(maps)
    return {"auroc": e["auroc"], "average_precision": e["average_precision"],
            "f1_heldout": e["heldout_threshold"]["f1"], "pixel_auroc": pixel_auroc(masks, maps),
            "au_pro": au_pro(masks, maps)}


def map_figures(labels, masks, test_maps, val_maps) -> dict:
    """test_figures of every candidate, from stitched test and held-out normal maps (N, 3, H, W)."""
    test, normal = image_scores(test_maps), image_scores(val_maps)
    return {name: test_figures(labels, masks, test[name], normal[name], test_maps[:, MAPS.index(m)])
            for name, (m, _) in CANDIDATES.items()}


def train_patch_gan(split, profile, seed: int, args) -> tuple[GANAD, torch.Tensor, dict]:
    """The GAN + encoders trained on random crops of the training images (cached like every run)."""
    rng = torch.Generator().manual_seed(seed)
    crops = random_crops(split.train, args.patch, args.crops, rng)
    val_crops = random_crops(split.val, args.patch, args.val_crops, rng)
    det = GANAD.from_profile(tuple(crops.shape[1:]), "mvtec", profile, seed=seed, progress=args.progress)
    per_epoch = generator_steps_per_epoch(len(crops), det.config.batch_size, det.config.n_critic)
    det.config = det.config.replace(epochs=math.ceil(args.steps / per_epoch))
    det.fit(crops)
    det.refine_encoder("berg+izif", crops, val_crops)  # checkpoint chosen on crops with planted defects
    budget = {"n_crops": len(crops), "epochs": det.config.epochs, "generator_steps_per_epoch": per_epoch,
              "generator_steps": per_epoch * det.config.epochs, "train_seconds": round(det.train_seconds, 1)}
    return det, crops, budget


def whole_image_64(split, profile, seed: int, category: str) -> dict:
    """The chapter's whole-image 64x64 detector on the same test images (run cache); its SSIM maps, also
    upsampled bilinearly to the study's size for pixel metrics at that resolution."""
    small = make_split("mvtec", (category, 64), profile, seed)
    if small.test_types != split.test_types or not torch.equal(small.test_labels, split.test_labels):
        raise RuntimeError("the 64x64 and full-size splits hold different test images; cannot compare them")
    run = run_one(small, "mvtec", profile, seed, progress=False, monitor=False)
    _, maps = run.reconstructions("ssim")
    size = split.test.shape[-1]
    up = F.interpolate(torch.from_numpy(maps)[:, None], size=(size, size), mode="bilinear", align_corners=False)
    masks = split.test_masks[:, 0].numpy()
    chosen = run.metrics["selected"]
    return {"selected_from": chosen["selected_from"], "auroc": chosen["auroc"],
            "average_precision": chosen["average_precision"], "pca_auroc": run.baseline["auroc"],
            "ssim_pixel_auroc_64": run.metrics["ssim"]["pixel_auroc"], "ssim_au_pro_64": run.metrics["ssim"]["au_pro"],
            "ssim_pixel_auroc": pixel_auroc(masks, up[:, 0].numpy()), "ssim_au_pro": au_pro(masks, up[:, 0].numpy()),
            "maps": up[:, 0]}


def one_seed(seed: int, profile, args) -> tuple[dict, dict]:
    """The study's figures for one seed, and the maps the figure draws."""
    split = make_split("mvtec", (args.category, args.size), profile, seed)
    if split.meta["source"] != "full":
        raise SystemExit(f"no MVTec AD {args.category} under the data root: set GANAD_DATA (this study needs "
                         "the real images)")
    labels, masks = split.test_labels.numpy(), split.test_masks[:, 0].numpy()
    det, crops, row = train_patch_gan(split, profile, seed, args)
    stitch = lambda reconstruct, images: stitched_maps(reconstruct, images, args.patch, args.stride,  # noqa: E731
                                                       window_maps)
    planted, planted_labels, _ = defect_validation_set(split.val, seed)
    gan, berg = gan_reconstruct(det, "berg+izif"), gan_reconstruct(det, "berg")
    on_defects = {k: auroc(planted_labels.numpy(), v) for k, v in image_scores(stitch(gan, planted)).items()}
    chosen = max(CANDIDATES, key=on_defects.get)  # the first in CANDIDATES order wins a tie
    gan_test = stitch(gan, split.test)
    row["candidates"] = map_figures(labels, masks, gan_test, stitch(gan, split.val))
    row.update(seed=seed, selected_from=chosen, selection_auroc=on_defects, selected=row["candidates"][chosen],
               tied=[k for k in best_ties(on_defects) if k != chosen])
    thesis = map_figures(labels, masks, stitch(berg, split.test), stitch(berg, split.val))
    row["thesis_encoder"] = thesis["residual_mean"]
    pca = PCABaseline(seed=seed).fit(split.train)
    pca_test, pca_maps = pca.reconstruction_error(split.test)
    row["pca_whole_image"] = test_figures(labels, masks, pca_test, pca.reconstruction_error(split.val)[0], pca_maps)
    patch_pca = pca_reconstruct(PCABaseline(seed=seed).fit(crops))
    pca_patch_test = stitch(patch_pca, split.test)
    row["pca_patches"] = map_figures(labels, masks, pca_patch_test, stitch(patch_pca, split.val))["residual_mean"]
    whole = whole_image_64(split, profile, seed, args.category)
    row["whole_image_64"] = {k: v for k, v in whole.items() if k != "maps"}
    m = MAPS.index(CANDIDATES[chosen][0])
    pictures = {"images": split.test, "labels": labels, "masks": masks, "types": split.test_types,
                f"patch GAN: {CANDIDATES[chosen][0]}": gan_test[:, m], "64x64 GAN: SSIM": whole["maps"],
                "patch PCA: residual": pca_patch_test[:, 0]}
    return row, pictures


def save_figure(pictures: dict, path, per_type: int = 1) -> None:
    """One good and `per_type` test images of each defect type: image, mask and each method's map."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = pictures["types"]
    rows = [types.index("good")] + [i for t in sorted(set(types) - {"good"})
                                    for i in [j for j, u in enumerate(types) if u == t][:per_type]]
    names = [k for k in pictures if k not in ("images", "labels", "masks", "types")]
    # one colour scale per method (its 99.5th percentile over the rows shown), so rows compare within a column
    top = {n: float(np.quantile(np.asarray(pictures[n][rows]), 0.995)) for n in names}
    fig, axes = plt.subplots(len(rows), 2 + len(names), figsize=(2.2 * (2 + len(names)), 2.2 * len(rows)))
    for r, i in enumerate(rows):
        panels = [(pictures["images"][i].permute(1, 2, 0).numpy(), None, 1, types[i]),
                  (pictures["masks"][i], "gray", 1, "mask")]
        panels += [(np.asarray(pictures[n][i]), "inferno", top[n], n) for n in names]
        for ax, (img, cmap, vmax, title) in zip(axes[r], panels):
            ax.imshow(img, cmap=cmap, vmin=0, vmax=vmax)
            ax.set_title(title.replace("_", " ") if r == 0 or cmap is None else "", fontsize=12)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def mean_sd(rows: list[dict], key: str) -> dict:
    """Mean and sd over seeds of every figure in rows[i][key]."""
    out = {}
    for fig in rows[0][key]:
        if isinstance(rows[0][key][fig], (int, float)) and not isinstance(rows[0][key][fig], bool):
            v = [r[key][fig] for r in rows]
            out[fig] = {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--category", default="bottle")
    parser.add_argument("--size", type=int, default=256, help="image side at which maps are scored")
    parser.add_argument("--patch", type=int, default=32, help="crop side the GAN trains on (a model size)")
    parser.add_argument("--stride", type=int, default=16, help="window stride when scoring")
    parser.add_argument("--crops", type=int, default=20000, help="training crops drawn once")
    parser.add_argument("--val-crops", type=int, default=400, help="held-out crops for the izif checkpoints")
    parser.add_argument("--steps", type=int, default=1000, help="generator steps (at least)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    profile, seeds = get_profile(args.profile), [int(s) for s in args.seeds.split(",")]
    out = results_dir() / profile.name / "studies" / f"patch_mvtec_{args.category}_{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)  # checked before any training starts
    t0, rows = time.perf_counter(), []
    for seed in seeds:
        row, pictures = one_seed(seed, profile, args)
        rows.append(row)
        if seed == seeds[0]:
            save_figure(pictures, out.with_suffix(".png"))
        s = row["selected"]
        print(f"seed {seed}: {row['selected_from']} image AUROC {s['auroc']:.3f}, pixel AUROC {s['pixel_auroc']:.3f}, "
              f"AU-PRO {s['au_pro']:.3f} (whole image 64: {row['whole_image_64']['auroc']:.3f}; PCA "
              f"{row['pca_whole_image']['auroc']:.3f}); {row['train_seconds']:.0f} s training", flush=True)
    summary = {"study": "patch-based training and scoring at a higher resolution", "category": args.category,
               "size": args.size, "patch": args.patch, "stride": args.stride, "profile": profile.as_dict(),
               "hardware": hardware_info(), "seeds": seeds,
               "chosen_by": "AUROC on held-out normal images with planted synthetic defects (first candidate on a tie)",
               "candidates": list(CANDIDATES),
               "mean": {k: mean_sd(rows, k) for k in ("selected", "thesis_encoder", "pca_whole_image",
                                                      "pca_patches", "whole_image_64")},
               "rows": rows, "wall_seconds": round(time.perf_counter() - t0, 1),
               "date": datetime.date.today().isoformat(),
               "command": "python scripts/patch_study.py " + " ".join(argv or sys.argv[1:])}
    out.write_text(json.dumps(jsonable(summary), indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
