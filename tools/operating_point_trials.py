"""Two ways to decide "named or unknown" that were measured against the shipped rule and not kept
(BENCHMARKS.md section 14): cohort score normalisation, and operating points that depend on the probe's face size.

  .venv/bin/python tools/operating_point_trials.py cohort [--cohort 3000]
  .venv/bin/python tools/operating_point_trials.py bands [--cut 64]

Both use the degraded pools of ``benchmarks/degraded.py`` and the open-set protocol of
``benchmarks/open_set_degraded.py`` over five seeded splits pooled (seeds 0-4).

``cohort``: every face is also compared with a cohort of non-enrolled faces (drawn from the calibration pool's LFW
and ORL people, never the benchmark's); the top-K cohort similarities of the probe and of each enrolled photo give
a mean and spread. Normalisations: S-norm (the mean of both z-scores), the probe's cohort mean subtracted, and the
mean of both cohort means subtracted. Thresholds are chosen on the benchmark's own strangers (an oracle, to compare
separation, not to ship): identification at FPIR 1%, 0.5% and 0.1%; at the threshold naming 1% of all strangers,
the FPIR of clean (unaltered) and degraded strangers; and the identification rate where clean strangers are named
at 0.5%.

``bands``: the stranger tail of ``tools/calibrate_quality.py`` (20 trials of 100 people on the calibration pool) is
split by the stranger's face size at ``--cut`` px; a gallery's threshold is then read per probe from its band's
tail at a band's own target FPIR (a stricter one for large faces), plus the gallery's look-alike shift, and applied
to the benchmark pool as the product would."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.degraded import Embedded, face_quality, load_or_embed
from benchmarks.open_set_degraded import cross_similarities, faceprint_scores, split
from faceprint.scoring import pair_quality, shipped_scoring, similarity_from_llr, threshold_from_tail
from tools.calibrate_quality import open_set_trials, stranger_tail

WORK = Path.home() / ".cache" / "faceprint" / "degraded"
SEEDS = range(5)
COHORT_TOP = (20, 100, 400)


def similarities(scoring, a: Embedded, qa: np.ndarray, rows_a, b: Embedded, qb: np.ndarray, rows_b) -> np.ndarray:
    """Rows of ``a`` x rows of ``b``: the quality-aware similarity of every pair."""
    cosines = np.stack([a.vectors[m][rows_a] @ b.vectors[m][rows_b].T for m in scoring.models], -1)
    quality = pair_quality(qa[rows_a][:, None, :], qb[rows_b][None, :, :])
    flat = scoring.similarity(cosines.reshape(-1, len(scoring.models)), quality.reshape(-1, 2))
    return flat.reshape(len(rows_a), len(rows_b))


def oracle_threshold(stranger_scores: np.ndarray, fpir: float) -> float:
    values = np.sort(stranger_scores[np.isfinite(stranger_scores)])[::-1]
    return float(np.nextafter(values[int(np.floor(fpir * len(stranger_scores)))], np.inf))


def cohort_trial(size: int) -> None:
    scoring = shipped_scoring()
    bench, calib = load_or_embed("benchmark", 2, WORK), load_or_embed("calibration", 2, WORK)
    qb, qc = face_quality(bench), face_quality(calib)
    candidates = np.flatnonzero(calib.found & ~np.char.startswith(calib.identities.astype(str), "celebrity/"))
    cohort = np.sort(np.random.default_rng(123).choice(candidates, min(size, len(candidates)), replace=False))
    print(f"cohort: {len(cohort)} faces of {len(set(calib.identities[cohort]))} people")
    rows = np.flatnonzero(bench.found)
    mean = {k: np.zeros(len(bench.found)) for k in COHORT_TOP}
    spread = {k: np.ones(len(bench.found)) for k in COHORT_TOP}
    for start in range(0, len(rows), 400):
        block = rows[start : start + 400]
        ordered = np.sort(similarities(scoring, bench, qb, block, calib, qc, cohort), axis=1)
        for k in COHORT_TOP:
            mean[k][block], spread[k][block] = ordered[:, -k:].mean(1), ordered[:, -k:].std(1) + 1e-6

    def person_best(gallery: dict, probes: np.ndarray, rule: str) -> tuple[np.ndarray, np.ndarray]:
        names = list(gallery)
        matrix = np.full((len(probes), len(names)), -np.inf)
        for column, name in enumerate(names):
            photos = np.array(gallery[name])
            s = similarities(scoring, bench, qb, probes, bench, qb, photos)
            if rule != "raw":
                kind, k = rule.split(":")
                mp, sp = mean[int(k)][probes][:, None], spread[int(k)][probes][:, None]
                me, se = mean[int(k)][photos][None], spread[int(k)][photos][None]
                s = {
                    "snorm": 0.5 * ((s - mp) / sp + (s - me) / se),
                    "probe-mean": s - mp,
                    "both-means": s - (mp + me) / 2,
                }[kind]
            matrix[:, column] = s.max(1)
        best = matrix.max(1)
        best[~bench.found[probes]] = -np.inf
        return np.array(names)[matrix.argmax(1)], best

    rules = ["raw"] + [f"{kind}:{k}" for kind in ("snorm", "probe-mean", "both-means") for k in COHORT_TOP]
    pooled: dict[str, list[list[np.ndarray]]] = {rule: [[], [], [], []] for rule in rules}
    for seed in SEEDS:
        gallery, genuine, genuine_names, strangers = split(bench, seed, 1500)
        for rule in rules:
            best_g, score_g = person_best(gallery, genuine, rule)
            _, score_s = person_best(gallery, strangers, rule)
            for store, value in zip(
                pooled[rule], (score_g, best_g == genuine_names, score_s, bench.variants[strangers] == 0)
            ):
                store.append(value)
    print(
        "rule            ID@1%  ID@0.5% ID@0.1% | at 1% of all strangers: clean FPIR, degraded FPIR | ID at clean 0.5%"
    )
    for rule in rules:
        g, right, s, clean = (np.concatenate(parts) for parts in pooled[rule])
        ids = [np.mean((g >= oracle_threshold(s, f)) & right) for f in (0.01, 0.005, 0.001)]
        t, t_clean = oracle_threshold(s, 0.01), oracle_threshold(s[clean], 0.005)
        print(f"{rule:15s} {ids[0]:.3f}  {ids[1]:.3f}   {ids[2]:.3f}   | {np.mean(s[clean] >= t):.4f} "
              f"{np.mean(s[~clean] >= t):.4f} | {np.mean((g >= t_clean) & right):.3f}")  # fmt: skip


def calibration_tails(cut: float) -> dict[str, dict[str, float]]:
    """The per-comparison stranger tail of the calibration trials (those of ``tools/calibrate_quality.py``), whole
    and split by the stranger's face size, at 0.5-point steps."""
    scoring = shipped_scoring()
    pool = load_or_embed("calibration", 2, WORK)
    embedded = pool.subset(pool.found)
    trials = open_set_trials(scoring, embedded, face_quality(embedded), 100, 3, trials=20, seed=0)
    value = similarity_from_llr(trials.stranger_all).ravel()
    stranger_size = np.repeat(embedded.quality["size"][trials.stranger_rows], trials.stranger_all.shape[1])
    masks = {"all": np.ones_like(value, bool), "small": stranger_size < cut, "large": stranger_size >= cut}
    return {band: stranger_tail(value[mask], 0.5) for band, mask in masks.items()}


def band_trial(cut: float) -> None:
    scoring = shipped_scoring()
    tails = calibration_tails(cut)
    bench = load_or_embed("benchmark", 2, WORK)
    quality, size = face_quality(bench), bench.quality["size"]

    print(f"faces under {cut:g} px are 'small'")
    for small, large in ((0.01, 0.01), (0.015, 0.005), (0.02, 0.005), (0.025, 0.005), (0.03, 0.005), (0.03, 0.006)):
        named_right, named_stranger, clean = [], [], []
        for seed in SEEDS:
            gallery, genuine, genuine_names, strangers = split(bench, seed, 1500)
            rows = np.array([r for photos in gallery.values() for r in photos])
            shift = scoring.gallery_shift(cross_similarities(scoring, bench, quality, rows))
            if small == large:
                low = high = threshold_from_tail(tails["all"], small, len(gallery), shift)
            else:
                low = threshold_from_tail(tails["small"], small, len(gallery), shift)
                high = threshold_from_tail(tails["large"], large, len(gallery), shift)
            best_g, score_g = faceprint_scores(bench, gallery, genuine)
            _, score_s = faceprint_scores(bench, gallery, strangers)
            named_right.append((score_g >= np.where(size[genuine] >= cut, high, low)) & (best_g == genuine_names))
            named_stranger.append(score_s >= np.where(size[strangers] >= cut, high, low))
            clean.append(bench.variants[strangers] == 0)
        right, named, is_clean = (np.concatenate(x) for x in (named_right, named_stranger, clean))
        seed0 = f"seed 0 {named_right[0].mean():.3f} / {named_stranger[0].mean():.4f}"
        print(
            f"targets small {small:g}, large {large:g}: identified {right.mean():.3f}, FPIR {named.mean():.4f} "
            f"({seed0}), clean strangers named {named[is_clean].mean():.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="trial", required=True)
    sub.add_parser("cohort").add_argument("--cohort", type=int, default=3000, help="cohort faces")
    sub.add_parser("bands").add_argument("--cut", type=float, default=64.0, help="face size (px) that splits the bands")
    args = parser.parse_args()
    if args.trial == "cohort":
        cohort_trial(args.cohort)
    else:
        band_trial(args.cut)


if __name__ == "__main__":
    main()
