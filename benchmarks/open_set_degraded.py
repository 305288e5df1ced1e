"""Open-set identification on faces made harder, faceprint beside face_recognition in the same run.

  .venv/bin/python -m benchmarks.open_set_degraded [--copies 2] [--probes 1500] [--seed 0] [--pooled-seeds 5]

Data: the ``benchmark`` pool of ``benchmarks/degraded.py`` (LFW View 1 DevTest people, the celebrity collection's
``validation`` folder, ORL s21-s40: none of them, nor these files, teach the score), each photo as it is and in two
degraded copies (faces 24-112 px across, JPEG quality 8-30, blur, noise, grey scale, 112x112 crops).

Protocol: of the people with 5 or more photos, a seeded half is enrolled from 3 photos (copies that pass the
enrollment quality gate, from 3 different source photos); every copy of their other photos is a genuine probe;
every copy of everyone else's photos is a stranger. A probe whose face is not detected is not named. Reported:
identification rate (right person named) and FPIR (strangers named) at faceprint's default threshold, per probe
face size and overall; the identification rate at FPIR 1% and 0.1%; and face_recognition (its HOG detector and
dlib encoder, nearest enrolled encoding within the tolerance) at tolerances 0.6 and 0.5, with faceprint at the
same FPIR. Writes benchmarks/results/open_set_degraded.json."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import write_result
from benchmarks.degraded import Embedded, degrade, face_quality, gate_passes, load_or_embed
from faceprint.scoring import pair_quality, shipped_scoring

BANDS = ((0, 32, "<32 px"), (32, 48, "32-47 px"), (48, 80, "48-79 px"), (80, 112, "80-111 px"), (112, 1e9, ">=112 px"))


def split(embedded: Embedded, seed: int, probes: int):
    """Enrolled rows per person, genuine probe rows with their person, stranger rows (seeded)."""
    rng = np.random.default_rng(seed)
    passes = gate_passes(embedded) & embedded.found
    people: dict[str, list[int]] = {}
    for index, identity in enumerate(embedded.identities):
        people.setdefault(str(identity), []).append(index)
    sources = {name: sorted({str(embedded.paths[i]) for i in rows}) for name, rows in people.items()}
    eligible = sorted(
        n
        for n, rows in people.items()
        if len(sources[n]) >= 5 and len({str(embedded.paths[i]) for i in rows if passes[i]}) >= 3
    )
    rng.shuffle(eligible)
    enrolled_names = eligible[: len(eligible) // 2]
    gallery, genuine, names = {}, [], []
    for name in enrolled_names:
        rows = people[name]
        by_source: dict[str, list[int]] = {}
        for i in rows:
            if passes[i]:
                by_source.setdefault(str(embedded.paths[i]), []).append(i)
        chosen_sources = rng.choice(sorted(by_source), 3, replace=False)
        gallery[name] = [int(rng.choice(by_source[s])) for s in chosen_sources]
        rest = [i for i in rows if str(embedded.paths[i]) not in set(chosen_sources)]
        genuine += rest
        names += [name] * len(rest)
    strangers = [i for n, rows in people.items() if n not in set(enrolled_names) for i in rows]
    genuine, names = np.array(genuine), np.array(names)
    if len(genuine) > probes:
        keep = np.sort(rng.choice(len(genuine), probes, replace=False))
        genuine, names = genuine[keep], names[keep]
    strangers = np.array(strangers)
    if len(strangers) > probes:
        strangers = np.sort(rng.choice(strangers, probes, replace=False))
    return gallery, genuine, names, strangers


def cross_similarities(scoring, embedded: Embedded, quality: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Similarities between enrolled photos of different people (what ``FaceRecognizer`` measures its gallery by)."""
    vectors = {m: embedded.vectors[m][rows] for m in scoring.models}
    return scoring.cross_person_similarities(vectors, quality[rows], embedded.identities[rows])


def faceprint_scores(embedded: Embedded, gallery: dict, probes: np.ndarray):
    """Best person and their similarity for each probe (similarity -inf where no face was detected)."""
    scoring = shipped_scoring()
    quality = face_quality(embedded)
    names = list(gallery)
    matrix = np.full((len(probes), len(names)), -np.inf)
    for column, name in enumerate(names):
        for photo in gallery[name]:
            cosines = np.stack([embedded.vectors[m][probes] @ embedded.vectors[m][photo] for m in scoring.models], 1)
            similarity = scoring.similarity(cosines, pair_quality(quality[probes], quality[photo][None, :]))
            matrix[:, column] = np.maximum(matrix[:, column], similarity)
    best = matrix.argmax(axis=1)
    score = matrix.max(axis=1)
    score[~embedded.found[probes]] = -np.inf
    return np.array(names)[best], score


def face_recognition_encodings(embedded: Embedded, rows: np.ndarray) -> dict[int, np.ndarray | None]:
    """face_recognition's own detection (HOG, upsampled once, as its CLI) and encoding of each row's image; the
    face nearest the centre is kept. Cached by content."""
    import face_recognition
    from tqdm import tqdm

    from faceprint.cache import ArrayCache, array_key, content_hash
    from faceprint.detection import central_face
    from faceprint.pipeline import FacePipeline

    cache = ArrayCache()
    pipeline = FacePipeline(cache=cache)
    encodings: dict[int, np.ndarray | None] = {}
    originals: dict[str, tuple[np.ndarray, float]] = {}
    for row in tqdm(sorted(set(rows.tolist())), desc="face_recognition", unit="face"):
        path = Path(str(embedded.paths[row]))
        if str(path) not in originals:
            image = pipeline.load(path)
            face = central_face(pipeline.detect(image), image.pixels.shape)
            originals[str(path)] = (image.pixels, face.box[2] if face else image.pixels.shape[1] * 0.5)
        pixels, width = originals[str(path)]
        variant = int(embedded.variants[row])
        if variant:
            pixels, _ = degrade(pixels, width, variant, path)
        key = array_key(content_hash(pixels), "face_recognition-1.3/hog-up1/v1")
        cached = cache.get(key)
        if cached is None:
            boxes = face_recognition.face_locations(pixels, number_of_times_to_upsample=1, model="hog")
            if boxes:
                centre = np.array(pixels.shape[:2]) / 2
                box = min(boxes, key=lambda b: np.sum((np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) - centre) ** 2))
                cached = np.asarray(face_recognition.face_encodings(pixels, [box])[0], dtype=np.float64)
            else:
                cached = np.zeros(0)
            cache.put(key, cached)
        encodings[row] = cached if cached.size else None
    return encodings


def face_recognition_scores(encodings, gallery: dict, probes: np.ndarray):
    """Nearest enrolled person and distance per probe (inf where face_recognition found no face)."""
    names, vectors = [], []
    for name, rows in gallery.items():
        for row in rows:
            if encodings[row] is not None:
                names.append(name)
                vectors.append(encodings[row])
    matrix = np.stack(vectors)
    best_names, distances = [], []
    for row in probes:
        if encodings[row] is None:
            best_names.append("")
            distances.append(np.inf)
            continue
        d = np.linalg.norm(matrix - encodings[row], axis=1)
        best_names.append(names[int(d.argmin())])
        distances.append(float(d.min()))
    return np.array(best_names), np.array(distances)


def rates(named_right: np.ndarray, stranger_named: np.ndarray) -> dict:
    return {
        "identification_rate": round(float(np.mean(named_right)), 4),
        "fpir": round(float(np.mean(stranger_named)), 4),
    }


def threshold_at_fpir(stranger_scores: np.ndarray, fpir: float, higher_is_closer: bool = True) -> float:
    """The least strict threshold at which at most ``fpir`` of strangers are named."""
    values = np.sort(stranger_scores[np.isfinite(stranger_scores)])
    values = values[::-1] if higher_is_closer else values
    allowed = int(np.floor(fpir * len(stranger_scores)))
    if allowed >= len(values):
        return -np.inf if higher_is_closer else np.inf
    edge = values[allowed]
    return float(np.nextafter(edge, np.inf)) if higher_is_closer else float(np.nextafter(edge, -np.inf))


@dataclass
class SplitScores:
    """One seeded split scored: the gallery and probes, each probe's best person and similarity, and each probe's
    default threshold (its face size band's operating point for this gallery, as ``recognize`` applies it)."""

    gallery: dict
    genuine: np.ndarray
    genuine_names: np.ndarray
    strangers: np.ndarray
    shift: float
    best_g: np.ndarray
    score_g: np.ndarray
    score_s: np.ndarray
    threshold_g: np.ndarray
    threshold_s: np.ndarray

    @property
    def named_right(self) -> np.ndarray:
        return (self.score_g >= self.threshold_g) & (self.best_g == self.genuine_names)

    @property
    def strangers_named(self) -> np.ndarray:
        return self.score_s >= self.threshold_s


def score_split(embedded: Embedded, seed: int, probes: int) -> SplitScores:
    scoring = shipped_scoring()
    gallery, genuine, genuine_names, strangers = split(embedded, seed, probes)
    rows = np.array([row for photos in gallery.values() for row in photos])
    shift = scoring.gallery_shift(cross_similarities(scoring, embedded, face_quality(embedded), rows))
    size = embedded.quality["size"]

    def default_for(probe_rows: np.ndarray) -> np.ndarray:
        return np.array([scoring.identification_threshold(len(gallery), shift, face_size=size[r]) for r in probe_rows])

    best_g, score_g = faceprint_scores(embedded, gallery, genuine)
    _, score_s = faceprint_scores(embedded, gallery, strangers)
    return SplitScores(gallery, genuine, genuine_names, strangers, shift, best_g, score_g, score_s,
                       default_for(genuine), default_for(strangers))  # fmt: skip


def pooled_default(embedded: Embedded, splits: list[SplitScores], seeds: list[int]) -> dict:
    """Faceprint's default over several seeded splits pooled (more probes, a steadier figure than one split)."""
    right = np.concatenate([split.named_right for split in splits])
    named = np.concatenate([split.strangers_named for split in splits])
    clean = np.concatenate([embedded.variants[split.strangers] == 0 for split in splits])
    return {
        "seeds": seeds,
        "genuine_probes": len(right),
        "stranger_probes": len(named),
        **rates(right, named),
        "fpir_unaltered_photos": round(float(np.mean(named[clean])), 4),
        "per_seed": [rates(split.named_right, split.strangers_named) for split in splits],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--probes", type=int, default=1500, help="at most this many genuine and stranger probes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "faceprint" / "degraded")
    parser.add_argument("--no-face-recognition", action="store_true", help="faceprint only")
    parser.add_argument(
        "--pooled-seeds", type=int, default=5, help="also report the default over seeds 0..N-1 pooled (0: skip)"
    )
    args = parser.parse_args()

    embedded = load_or_embed("benchmark", args.copies, args.work)
    scoring = shipped_scoring()
    scored = score_split(embedded, args.seed, args.probes)
    gallery, genuine, genuine_names, strangers = scored.gallery, scored.genuine, scored.genuine_names, scored.strangers
    shift, best_g, score_g, score_s = scored.shift, scored.best_g, scored.score_g, scored.score_s
    right = best_g == genuine_names

    def faceprint_at(t) -> dict:
        return rates((score_g >= t) & right, score_s >= t)

    size_g, size_s = embedded.quality["size"][genuine], embedded.quality["size"][strangers]
    bands = {}
    for low, high, label in BANDS:
        g, s = (size_g >= low) & (size_g < high), (size_s >= low) & (size_s < high)
        bands[label] = {
            "genuine": int(g.sum()),
            "strangers": int(s.sum()),
            **rates(scored.named_right[g], scored.strangers_named[s]),
        }
    missed = ~embedded.found[genuine]
    result = {
        "protocol": {
            "enrolled_people": len(gallery),
            "enrolled_photos_each": 3,
            "genuine_probes": len(genuine),
            "stranger_probes": len(strangers),
            "no_face_detected": {"genuine": int(missed.sum()), "strangers": int((~embedded.found[strangers]).sum())},
        },
        "faceprint": {
            "default_threshold": {
                "small": scoring.identification_threshold(len(gallery), shift, face_size=0.0),
                "large": scoring.identification_threshold(len(gallery), shift, face_size=1e4),
                "size_cut_px": scoring.size_bands.get("cut"),
            },
            "gallery_shift": shift,
            "at_default": {
                **rates(scored.named_right, scored.strangers_named),
                "fpir_unaltered_photos": round(
                    float(np.mean(scored.strangers_named[embedded.variants[strangers] == 0])), 4
                ),
                "rank1_of_detected": round(float(np.mean(right[~missed])), 4),
            },
            "per_probe_size": bands,
            "at_fpir": {},
        },
    }
    if args.pooled_seeds:
        seeds = list(range(args.pooled_seeds))
        splits = [scored if seed == args.seed else score_split(embedded, seed, args.probes) for seed in seeds]
        result["faceprint"]["pooled_over_seeds"] = pooled_default(embedded, splits, seeds)
    for fpir in (0.01, 0.001):
        t = threshold_at_fpir(score_s, fpir)
        result["faceprint"]["at_fpir"][f"{fpir:g}"] = {"threshold": round(t, 2), **faceprint_at(t)}
    if not args.no_face_recognition:
        rows = np.concatenate([genuine, strangers, np.array([r for rs in gallery.values() for r in rs])])
        encodings = face_recognition_encodings(embedded, rows)
        fr_best_g, fr_dist_g = face_recognition_scores(encodings, gallery, genuine)
        _, fr_dist_s = face_recognition_scores(encodings, gallery, strangers)
        fr_right = fr_best_g == genuine_names
        comparisons = {}
        for tolerance in (0.6, 0.5, 0.45, 0.4):
            fr = rates((fr_dist_g <= tolerance) & fr_right, fr_dist_s <= tolerance)
            t = threshold_at_fpir(score_s, fr["fpir"])
            comparisons[f"{tolerance:g}"] = {"face_recognition": fr, "faceprint_at_same_fpir": faceprint_at(t)}
        result["face_recognition"] = {
            "no_face_detected": {
                "genuine": int(sum(encodings[r] is None for r in genuine)),
                "strangers": int(sum(encodings[r] is None for r in strangers)),
            },
            "by_tolerance": comparisons,
        }
    write_result("open_set_degraded", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
