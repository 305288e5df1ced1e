"""The celebrity commands of ``faceprint``: prepare, train, evaluate and celebrity (look-alike)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from faceprint.errors import FaceprintError


def _pipeline(args: argparse.Namespace):
    from faceprint.cli_common import pipeline_from_args

    return pipeline_from_args(args)


def _command(args: argparse.Namespace) -> str:
    return "faceprint " + " ".join(shlex.quote(a) for a in getattr(args, "argv", []))


def _print_json(data: object) -> None:
    from faceprint.cli_common import print_json

    print_json(data)


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def cmd_prepare(args: argparse.Namespace) -> int:
    from faceprint.celebrity.dataset import AugmentConfig, prepare_dataset

    augment = AugmentConfig.parse(args.augment, args.augment_target)
    result = prepare_dataset(
        args.source,
        args.out,
        _pipeline(args),
        fractions=tuple(args.split),
        seed=args.seed,
        augment=augment,
        near_bits=args.near_duplicates,
        progress=not args.quiet,
        overwrite=args.overwrite,
        command=_command(args),
    )
    if args.json:
        summary = result.summary.reset_index().to_dict(orient="records")
        _print_json({"out": str(args.out), "counts": result.counts, "people": summary})
    else:
        print(result.summary.to_string())
        counts = result.counts
        print(
            f"{counts['files']} file(s): {counts['train']} train, {counts['validation']} validation, "
            f"{counts['test']} test; skipped {counts['unreadable']} unreadable, {counts['conflicts']} conflicting; "
            f"{counts['no_face']} without a face; {counts['several_faces']} with several faces (largest kept); "
            f"{counts['exact_duplicates']} exact and {counts['near_duplicates']} near duplicate(s) kept in one split; "
            f"{counts['augmented']} augmented training image(s)"
        )
        print(f"wrote {args.out / 'manifest.csv'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from faceprint.celebrity.training import TrainConfig, train_model, versus_reference
    from faceprint.embedding import resolve_models

    config = TrainConfig(
        seed=args.seed,
        folds=args.folds,
        epochs=args.epochs,
        balance=args.balance,
        select=args.select,
        models=None if args.model in (None, "", "all") else resolve_models(args.model),
    )
    result = train_model(
        args.data,
        args.out,
        _pipeline(args),
        config,
        progress=not args.quiet,
        command=_command(args),
        echo=None if args.json or args.quiet else _stderr,
    )
    card = result.card
    if args.json:
        _print_json(
            {
                key: card[key]
                for key in (
                    "chosen",
                    "kind",
                    "members",
                    "temperature",
                    "imbalance",
                    "selection",
                    "validation",
                    "cross_validation",
                    "timings",
                )
                if key in card
            }
        )
    else:
        print(
            f"{'candidate':22s} {'val acc':>8s} {'macro F1':>8s} {'log loss':>8s} {'T':>6s} "
            f"{'cal. LL':>8s} {'cal. ECE':>8s} {'vs stack':>14s}"
        )
        for name, row in card["validation"].items():
            mark = "  <- kept" if name == card["chosen"] else ""
            print(
                f"{name:22s} {row['accuracy']:8.4f} {row['macro_f1']:8.4f} {row['log_loss']:8.4f} "
                f"{row['temperature']:6.3f} {row['calibrated_log_loss']:8.4f} {row['calibrated_ece']:8.4f} "
                f"{versus_reference(row):>14s}{mark}"
            )
        if "cross_validation" in card:
            print(
                f"\n{'candidate':22s} {'CV errors':>9s} {'accuracy':>8s} {'macro F1':>8s} {'cal. LL':>8s} "
                f"{'vs stack':>14s}"
            )
            for name, row in card["cross_validation"].items():
                mark = "  <- kept" if name == card["chosen"] else ""
                print(
                    f"{name:22s} {row['errors']:9d} {row['accuracy']:8.4f} {row['macro_f1']:8.4f} "
                    f"{row['calibrated_log_loss']:8.4f} {versus_reference(row):>14s}{mark}"
                )
        print(f"imbalance handling kept: {card['imbalance']['chosen']}")
        timings = card["timings"]
        print(
            f"embedding {timings['embedding_s']:.0f} s, training {timings['training_s']:.0f} s; "
            f"wrote {args.out} (model card: {args.out / 'MODEL_CARD.md'})"
        )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from faceprint.celebrity.model import CelebrityModel
    from faceprint.celebrity.predict import evaluate_collection

    model = CelebrityModel.load(args.model)
    outcome = evaluate_collection(
        args.data, model, _pipeline(args), split=args.split, report=args.report, progress=not args.quiet
    )
    metrics = outcome["metrics"]
    if args.record:
        from faceprint.celebrity.training import write_card

        if model.path is None or not model.card:
            raise FaceprintError("--record needs a model directory with a model card")
        model.card.setdefault("evaluations", []).append(outcome["record"] | {"command": _command(args)})
        write_card(model.path, model.card)
    if args.json:
        keys = ("accuracy", "top3_accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall")
        _print_json(
            {
                **{key: metrics.get(key) for key in keys},
                "images": metrics["images"],
                "no_face": metrics["no_face"],
                "unreadable": metrics["unreadable"],
                "unknown_people": metrics["unknown_people"],
                "ece": metrics.get("ece"),
                "report": None if args.report is None else str(args.report),
            }
        )
    else:
        print(
            f"{metrics['images']} image(s), {metrics['no_face']} with no face found (whole crop used), "
            f"{metrics['unreadable']} unreadable and {metrics['unknown_people']} of unknown people skipped"
        )
        if metrics["images"]:
            print(
                f"accuracy {metrics['accuracy']:.4f}  top-3 {metrics['top3_accuracy']:.4f}  "
                f"macro F1 {metrics['macro_f1']:.4f}  weighted F1 {metrics['weighted_f1']:.4f}  "
                f"ECE {metrics['ece']:.4f}"
            )
        if args.report is not None:
            print(f"wrote the report to {args.report}")
    return 0


def cmd_celebrity(args: argparse.Namespace) -> int:
    from faceprint.celebrity.model import CelebrityModel
    from faceprint.celebrity.predict import match_image
    from faceprint.cli_common import annotator, report_per_image

    model = CelebrityModel.load(args.model)
    if args.list:
        return _list_celebrities(model, args)
    if not args.images:
        raise FaceprintError("give at least one IMAGE (or --list to see the celebrities)")
    pipeline = _pipeline(args)

    def describe(face: dict) -> str:
        x, y, w, h = face["box"]
        verdict = "looks like" if face["confidence"] >= LIKELY else "might look a little like"
        others = ", ".join(f"{m['name']} {m['probability']:.0%}" for m in face["top"][1:])
        return f"{verdict} {face['name']} ({face['confidence']:.0%})  box {x:.0f},{y:.0f},{w:.0f},{h:.0f}" + (
            f"  then: {others}" if others else ""
        )

    def label(face: dict) -> str:
        return f"{face['name']} {face['confidence']:.0%}" if face["confidence"] >= LIKELY else f"{face['name']}?"

    return report_per_image(
        args.images,
        lambda source: {"faces": match_image(pipeline, model, source, top=args.top)},
        describe,
        args,
        no_face_code=3,
        annotate=annotator(args, label, lambda face: face["confidence"] >= LIKELY),
    )


LIKELY = 0.5
"""From this confidence the text says "looks like"; below it, "might look a little like" (a guess, not a match)."""


def _list_celebrities(model, args: argparse.Namespace) -> int:
    from faceprint.celebrity.model import PRIVATE_PEOPLE, display_name

    names = sorted(model.labels, key=display_name)
    if args.json:
        _print_json({"celebrities": [display_name(name) for name in names]})
    else:
        note = " (a private person of the collection, known by one name)"
        print("\n".join(display_name(name) + (note if name in PRIVATE_PEOPLE else "") for name in names))
    return 0


def _fraction_triple(values: list[str]) -> list[float]:
    return [float(v) for v in values]


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the celebrity commands to the ``faceprint`` parser."""
    from faceprint.celebrity.config import AUGMENTATIONS, BALANCE_CHOICES, NEAR_DUPLICATE_BITS, SELECT_CHOICES, SPLITS

    p = sub.add_parser(
        "prepare",
        parents=[common],
        help="folder-per-person images to aligned face crops in a train/validation/test split",
    )
    p.add_argument("source", type=Path, metavar="SRC", help="one folder per person (sub-folders such as train/ pooled)")
    p.add_argument("out", type=Path, metavar="OUT", help="where to write the manifest and the face crops")
    p.add_argument(
        "--split", nargs=3, type=float, default=[0.8, 0.1, 0.1], metavar=("TRAIN", "VAL", "TEST"), help="fractions"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split and of augmentation (default 0)")
    p.add_argument(
        "--augment",
        default="none",
        help=f"augment training crops to balance people: none (default), all, or a list of {','.join(AUGMENTATIONS)}",
    )
    p.add_argument(
        "--augment-target", type=int, metavar="N", help="training images per person to reach (default: the largest)"
    )
    p.add_argument(
        "--near-duplicates",
        type=int,
        default=NEAR_DUPLICATE_BITS,
        metavar="BITS",
        help=f"perceptual-hash distance (of 255 bits) treated as one photo (default {NEAR_DUPLICATE_BITS}; "
        "-1: exact copies only)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an earlier prepared dataset in OUT")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", parents=[common], help="train the stacked celebrity model on a prepared dataset")
    p.add_argument("data", type=Path, metavar="DATA", help="a folder written by 'faceprint prepare'")
    p.add_argument("--out", type=Path, required=True, metavar="MODEL_DIR", help="where to write the model")
    p.add_argument("--model", default="all", help="embedding models to stack (default: every available one)")
    p.add_argument("--seed", type=int, default=0, help="seed of folds and networks (default 0)")
    p.add_argument("--folds", type=int, default=5, help="folds for out-of-fold level-0 probabilities (default 5)")
    p.add_argument("--epochs", type=int, default=300, help="most epochs of the Keras networks (default 300)")
    p.add_argument(
        "--balance",
        choices=BALANCE_CHOICES,
        default="auto",
        help="class imbalance: class weights and/or augmented images; auto (default) keeps what helps on validation",
    )
    p.add_argument(
        "--select",
        choices=SELECT_CHOICES,
        default="validation",
        help="choose the candidate on the validation split (default, fast) or by pooled 5-fold cross-validation over "
        "training and validation images (slower, far less noisy; the shipped model's choice)",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", parents=[common], help="accuracy, F1 and a report of a celebrity model on images")
    p.add_argument(
        "data", type=Path, metavar="DATA", help="one folder per person, or a prepared dataset (its --split is used)"
    )
    p.add_argument("--model", type=Path, metavar="MODEL_DIR", help="model directory (default: the shipped model)")
    p.add_argument("--split", choices=SPLITS, default="test", help="split of a prepared dataset (default test)")
    p.add_argument("--report", type=Path, metavar="DIR", help="write metrics, tables and pictures to DIR")
    p.add_argument("--record", action="store_true", help="add the result to the model's card")
    p.set_defaults(func=cmd_evaluate)

    from faceprint.cli_common import add_annotate_option

    p = sub.add_parser("celebrity", parents=[common], help="which celebrity does every face look like?")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="photos, or folders searched recursively for photos")
    p.add_argument("--list", action="store_true", help="list the celebrities the model knows")
    add_annotate_option(p)
    p.add_argument("--model", type=Path, metavar="MODEL_DIR", help="model directory (default: the shipped model)")
    p.add_argument("--top", type=int, default=5, help="how many celebrities to list per face (default 5)")
    p.set_defaults(func=cmd_celebrity)
