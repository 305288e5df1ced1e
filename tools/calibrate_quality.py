"""Learn the quality-aware similarity score and its thresholds from faces made harder (faceprint/data/scoring.json).

  .venv/bin/python tools/calibrate_quality.py [--copies 2] [--work DIR] [--out faceprint/data/scoring.json]

Data: the ``calibration`` pool of ``benchmarks/degraded.py`` (LFW View 1 DevTrain people with two or more photos,
20 photos of each celebrity from the collection's ``train`` folder, ORL s1-s20), each photo as it is and in
``--copies`` degraded copies (24-112 px faces, JPEG, blur, noise, grey scale, 112 px crops). None of the people or
files that ``benchmarks/open_set_degraded.py`` reports on are used here.

1. Pairs: every same-person pair of detected faces (at most 300 per person) and 400,000 random different-person
   pairs; the logistic model of ``faceprint.scoring`` is fitted on them (and, for the record, the same model without
   quality inputs, to show what quality adds).
2. Verification threshold: the whole similarity with the best accuracy on LFW View 1 DevTrain's 2,200 pairs
   (half matches, as verification pairs usually are), near 50 (a likelihood ratio of 1).
3. Identification threshold: open-set trials on the same pool, 100 people enrolled from 3 photos that pass the
   enrollment quality gate, every face of everyone else a stranger; the smallest whole similarity at which at most
   1% of strangers are named, over 20 seeded trials pooled. The per-comparison impostor tail is stored too, so
   larger galleries get a higher threshold at the same FPIR.
4. Size bands: the same trials' tails split by the stranger's face size; the cut and the two bands' target FPIRs
   that name the most genuine probes while at most 1% of all strangers and 0.5% of strangers in unaltered photos
   are named (``--bands-only`` measures only this, keeping the score already in ``--out``)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.degraded import Embedded, face_quality, gate_passes, load_or_embed
from faceprint.scoring import QualityScore, fit_quality_score, pair_quality

MODELS = ("dlib", "facenet")


def make_pairs(embedded: Embedded, rng: np.random.Generator, per_person: int = 300, impostors: int = 400_000):
    """Index pairs (i, j) with same-person flags: genuine pairs per person, then random different-person pairs."""
    by_person: dict[str, list[int]] = {}
    for index, identity in enumerate(embedded.identities):
        by_person.setdefault(str(identity), []).append(index)
    left, right = [], []
    for indices in by_person.values():
        indices = np.array(indices)
        upper = np.triu_indices(len(indices), 1)
        pairs = np.stack([indices[upper[0]], indices[upper[1]]], axis=1)
        if len(pairs) > per_person:
            pairs = pairs[rng.choice(len(pairs), per_person, replace=False)]
        left.append(pairs[:, 0])
        right.append(pairs[:, 1])
    genuine_i, genuine_j = np.concatenate(left), np.concatenate(right)
    imp_i = rng.integers(0, len(embedded.identities), impostors * 2)
    imp_j = rng.integers(0, len(embedded.identities), impostors * 2)
    keep = embedded.identities[imp_i] != embedded.identities[imp_j]
    imp_i, imp_j = imp_i[keep][:impostors], imp_j[keep][:impostors]
    i = np.concatenate([genuine_i, imp_i])
    j = np.concatenate([genuine_j, imp_j])
    same = np.concatenate([np.ones(len(genuine_i), bool), np.zeros(len(imp_i), bool)])
    return i, j, same


def pair_inputs(embedded: Embedded, quality: np.ndarray, i: np.ndarray, j: np.ndarray):
    cosines = np.stack([np.einsum("nd,nd->n", embedded.vectors[m][i], embedded.vectors[m][j]) for m in MODELS], axis=1)
    return cosines, pair_quality(quality[i], quality[j])


def person_scores(score: QualityScore, embedded: Embedded, quality: np.ndarray, probes, enrolled: dict) -> np.ndarray:
    """Probes x people matrix of each person's best similarity over their enrolled photos."""
    columns = []
    for photos in enrolled.values():
        photos = np.array(photos)
        best = np.full(len(probes), -np.inf)
        for photo in photos:
            cosines = np.stack([embedded.vectors[m][probes] @ embedded.vectors[m][photo] for m in MODELS], axis=1)
            q = pair_quality(quality[probes], quality[photo][None, :])
            best = np.maximum(best, score.llr(cosines, q))
        columns.append(best)
    return np.stack(columns, axis=1)


@dataclass
class Trials:
    """Open-set trials pooled: each stranger's best-person LLR and all its per-person LLRs, each genuine probe's
    best LLR and whether the best person was the right one, and the pool rows of both."""

    stranger_best: np.ndarray
    stranger_all: np.ndarray
    genuine_best: np.ndarray
    genuine_right: np.ndarray
    stranger_rows: np.ndarray
    genuine_rows: np.ndarray


def open_set_trials(score, embedded, quality, people: int, photos: int, trials: int, seed: int) -> Trials:
    """Seeded trials of ``people`` enrolled from ``photos`` photos that pass the enrollment gate; every other photo of
    theirs is a genuine probe, 3,000 faces of everyone else are strangers."""
    passes = gate_passes(embedded)
    by_person: dict[str, list[int]] = {}
    for index, identity in enumerate(embedded.identities):
        by_person.setdefault(str(identity), []).append(index)
    eligible = sorted(p for p, ix in by_person.items() if sum(passes[ix]) >= photos and len(ix) >= photos + 1)
    stranger_best, stranger_all, genuine_best, genuine_right, stranger_rows, genuine_rows = [], [], [], [], [], []
    for trial in range(trials):
        rng = np.random.default_rng(seed + trial)
        chosen = rng.choice(len(eligible), min(people, len(eligible)), replace=False)
        enrolled, genuine_probes, genuine_names = {}, [], []
        for k in chosen:
            name = eligible[k]
            indices = np.array(by_person[name])
            good = indices[passes[indices]]
            picked = rng.choice(good, photos, replace=False)
            enrolled[name] = list(picked)
            # Degraded copies of an enrolled photo would be easy probes: only other photos are probes.
            sources = {str(embedded.paths[i]) for i in picked}
            rest = [i for i in indices if str(embedded.paths[i]) not in sources]
            genuine_probes += rest
            genuine_names += [name] * len(rest)
        enrolled_names = set(enrolled)
        strangers = np.array([i for i, ident in enumerate(embedded.identities) if str(ident) not in enrolled_names])
        strangers = strangers[rng.choice(len(strangers), min(3000, len(strangers)), replace=False)]
        names = list(enrolled)
        matrix = person_scores(score, embedded, quality, strangers, enrolled)
        stranger_best.append(matrix.max(axis=1))
        stranger_all.append(matrix)
        stranger_rows.append(strangers)
        matrix = person_scores(score, embedded, quality, np.array(genuine_probes), enrolled)
        genuine_best.append(matrix.max(axis=1))
        genuine_right.append(np.array([names[k] for k in matrix.argmax(axis=1)]) == np.array(genuine_names))
        genuine_rows.append(np.array(genuine_probes))
    return Trials(*(np.concatenate(x) for x in (stranger_best, stranger_all, genuine_best, genuine_right)),
                  np.concatenate(stranger_rows), np.concatenate(genuine_rows))  # fmt: skip


BAND_CUTS = (40.0, 48.0, 56.0, 64.0, 80.0)
BAND_TARGETS = {
    "large": (0.004, 0.005, 0.006, 0.007, 0.008, 0.01),
    "small": (0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05),
}
CLEAN_FPIR = 0.005
"""The most strangers in unaltered photos that the default may name (a clean collection such as LFW or ORL)."""


def stranger_tail(per_comparison: np.ndarray, step: float) -> dict[str, float]:
    """The rate at which a stranger's face reaches each similarity from 50 to 100 (every ``step``) against one
    enrolled person."""
    return {f"{s:g}": float(np.mean(per_comparison >= s)) for s in np.arange(50.0, 100.0 + step / 2, step)}


def choose_size_bands(embedded: Embedded, trials: Trials, fpir: float, people: int) -> tuple[dict, dict]:
    """The face-size cut and the two bands' target FPIRs that name the most genuine probes of the calibration trials
    while at most ``fpir`` of all strangers and ``CLEAN_FPIR`` of strangers in unaltered photos are named; each
    band's tail is measured on strangers of that band. Returns the ``size_bands`` and what they achieved."""
    from faceprint.scoring import similarity_from_llr, threshold_from_tail

    size = embedded.quality["size"]
    per_comparison = similarity_from_llr(trials.stranger_all)
    comparison_size = np.repeat(size[trials.stranger_rows], trials.stranger_all.shape[1])
    stranger = similarity_from_llr(trials.stranger_best)
    genuine = similarity_from_llr(trials.genuine_best)
    stranger_size, genuine_size = size[trials.stranger_rows], size[trials.genuine_rows]
    clean = embedded.variants[trials.stranger_rows] == 0
    best = None
    for cut in BAND_CUTS:
        small, values = comparison_size < cut, per_comparison.ravel()
        tails = {"small": stranger_tail(values[small], 0.5), "large": stranger_tail(values[~small], 0.5)}
        for large_fpir in BAND_TARGETS["large"]:
            for small_fpir in BAND_TARGETS["small"]:
                low = threshold_from_tail(tails["small"], small_fpir, people)
                high = threshold_from_tail(tails["large"], large_fpir, people)
                named = stranger >= np.where(stranger_size >= cut, high, low)
                identified = float(
                    np.mean((genuine >= np.where(genuine_size >= cut, high, low)) & trials.genuine_right)
                )
                if (
                    np.mean(named) <= fpir
                    and np.mean(named[clean]) <= CLEAN_FPIR
                    and (best is None or identified > best[0])
                ):
                    record = {"cut_px": cut, "fpir_small": small_fpir, "fpir_large": large_fpir,
                              "thresholds_for_gallery": [low, high], "identification_rate": round(identified, 4),
                              "fpir": round(float(np.mean(named)), 4),
                              "fpir_unaltered_photos": round(float(np.mean(named[clean])), 4)}  # fmt: skip
                    bands = {"cut": cut, "small": {"fpir": small_fpir, "tail": tails["small"]},
                             "large": {"fpir": large_fpir, "tail": tails["large"]}}  # fmt: skip
                    best = (identified, bands, record)
    if best is None:
        raise SystemExit("no size bands keep both stranger rates: widen BAND_TARGETS")
    return best[1], best[2]


def gallery_reference(score: QualityScore, embedded: Embedded, quality: np.ndarray, people: int, seed: int) -> float:
    """The 99th percentile of similarities between enrolled photos of different people, over 10 seeded galleries of
    ``people`` people with 3 photos each that pass the enrollment gate (mean over the galleries)."""
    passes = gate_passes(embedded)
    names = sorted({str(i) for i, ok in zip(embedded.identities, passes) if ok})
    names = [n for n in names if np.sum(passes & (embedded.identities == n)) >= 3]
    values = []
    for trial in range(10):
        rng = np.random.default_rng(seed + trial)
        chosen = rng.choice(names, min(people, len(names)), replace=False)
        rows = np.concatenate(
            [rng.choice(np.where(passes & (embedded.identities == n))[0], 3, replace=False) for n in chosen]
        )
        vectors = {m: embedded.vectors[m][rows] for m in score.models}
        similarities = score.cross_person_similarities(vectors, quality[rows], embedded.identities[rows])
        values.append(float(np.quantile(similarities, 0.99)))
    return round(float(np.mean(values)), 1)


def lfw_verification_threshold(score: QualityScore) -> float:
    """The whole similarity with the best accuracy on LFW View 1 DevTrain's pairs."""
    from benchmarks.common import DATASETS
    from faceprint.cache import ArrayCache
    from faceprint.lfw import read_pairs, score_pairs
    from faceprint.pipeline import FacePipeline

    lfw = DATASETS / "lfw"
    pairs = read_pairs(lfw / "pairsDevTrain.txt").pairs
    scores = score_pairs(FacePipeline(cache=ArrayCache()), pairs, lfw / "images", MODELS, progress=False)
    similarity = score.similarity(np.stack([scores.similarities[m] for m in MODELS], axis=1), scores.quality)
    candidates = np.arange(40.0, 70.5, 1.0)
    accuracy = [np.mean((similarity >= t) == scores.same) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "faceprint" / "degraded")
    parser.add_argument("--out", type=Path, default=Path("faceprint/data/scoring.json"))
    parser.add_argument("--fpir", type=float, default=0.01)
    parser.add_argument("--gallery", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--bands-only", action="store_true", help="keep the score in --out and measure only its size bands (step 4)"
    )
    args = parser.parse_args()

    from faceprint.scoring import similarity_from_llr

    pool = load_or_embed("calibration", args.copies, args.work)
    embedded = pool.subset(pool.found)
    quality = face_quality(embedded)
    if args.bands_only:
        score = QualityScore.load(args.out)
        trials = open_set_trials(score, embedded, quality, args.gallery, 3, trials=20, seed=args.seed)
        save_with_bands(score, embedded, trials, args)
        return
    rng = np.random.default_rng(args.seed)
    i, j, same = make_pairs(embedded, rng)
    cosines, pair_q = pair_inputs(embedded, quality, i, j)
    score = fit_quality_score(cosines, pair_q, same, MODELS)
    blind = fit_quality_score(cosines, np.zeros_like(pair_q), same, MODELS)

    def log_loss(model: QualityScore, q: np.ndarray) -> float:
        logit = model.llr(cosines, q) + model.prior_logit
        return float(np.mean(np.logaddexp(0, -logit) * same + np.logaddexp(0, logit) * ~same))

    verify_threshold = lfw_verification_threshold(score)
    reference = gallery_reference(score, embedded, quality, args.gallery, args.seed)
    # Identification threshold from open-set trials on this pool (never the benchmark pool).
    trials = open_set_trials(score, embedded, quality, args.gallery, 3, trials=20, seed=args.seed)
    strangers, per_comparison, genuine, right = (
        trials.stranger_best, trials.stranger_all, trials.genuine_best, trials.genuine_right
    )  # fmt: skip
    stranger_similarity = similarity_from_llr(strangers)
    per_comparison_similarity = similarity_from_llr(per_comparison)
    tail = stranger_tail(per_comparison_similarity, 1.0)
    draft = QualityScore(**{**score.__dict__, "impostor_tail": tail, "identify_fpir": args.fpir})
    threshold = draft.identification_threshold(args.gallery)
    genuine_similarity = similarity_from_llr(genuine)
    identified = float(np.mean((genuine_similarity >= threshold) & right))
    score = QualityScore(
        **{
            **score.__dict__,
            "verify_threshold": verify_threshold,
            "identify_threshold": float(threshold),
            "identify_fpir": args.fpir,
            "identify_gallery": args.gallery,
            "impostor_tail": tail,
            "gallery_reference": reference,
            "provenance": {
                "command": f"tools/calibrate_quality.py --copies {args.copies} --fpir {args.fpir:g} "
                f"--gallery {args.gallery} --seed {args.seed}",
                "pool": "calibration (LFW View 1 DevTrain people with 2+ photos, celebrity train/ 20 per person, "
                "ORL s1-s20), each photo as it is and degraded",
                "faces": len(embedded.identities),
                "people": len(set(embedded.identities)),
                "pairs": {"genuine": int(same.sum()), "impostor": int((~same).sum())},
                "log_loss": {
                    "quality_aware": round(log_loss(score, pair_q), 5),
                    "quality_blind": round(log_loss(blind, np.zeros_like(pair_q)), 5),
                },
                "open_set_trials": {
                    "gallery_people": args.gallery,
                    "enrolled_photos": 3,
                    "trials": 20,
                    "strangers": len(strangers),
                    "genuine_probes": len(genuine),
                    "fpir_at_threshold": round(float(np.mean(stranger_similarity >= threshold)), 4),
                    "identification_rate_at_threshold": round(identified, 4),
                },
            },
        }
    )
    print(f"verify threshold {score.verify_threshold:g}, identify threshold {score.identify_threshold:g}")
    save_with_bands(score, embedded, trials, args)


def save_with_bands(score: QualityScore, embedded: Embedded, trials: Trials, args: argparse.Namespace) -> None:
    """Choose the size bands on the trials, record how, and write the scoring file."""
    bands, achieved = choose_size_bands(embedded, trials, score.identify_fpir, args.gallery)
    provenance = {**score.provenance, "size_bands": {
        "command": f"tools/calibrate_quality.py --bands-only --copies {args.copies} --gallery {args.gallery} "
        f"--seed {args.seed}",
        "rule": f"the most genuine probes named with at most {score.identify_fpir:g} of all strangers and "
        f"{CLEAN_FPIR:g} of strangers in unaltered photos named, over cuts {list(BAND_CUTS)} px",
        "open_set_trials": achieved,
    }}  # fmt: skip
    score = QualityScore(**{**score.__dict__, "size_bands": bands, "provenance": provenance})
    score.save(args.out)
    print(json.dumps(score.provenance, indent=2))


if __name__ == "__main__":
    main()
