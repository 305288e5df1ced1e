"""The model card: what a trained model was made from and how it compared, as ``model_card.json`` and its
readable twin ``MODEL_CARD.md``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceprint.celebrity.candidates import REFERENCE_CANDIDATE, SIGNIFICANCE

if TYPE_CHECKING:
    from faceprint.celebrity.config import TrainConfig
    from faceprint.celebrity.dataset import PreparedDataset
    from faceprint.celebrity.model import CelebrityModel
    from faceprint.pipeline import FacePipeline


def build_card(
    *,
    dataset: PreparedDataset,
    config: TrainConfig,
    pipeline: FacePipeline,
    members: Sequence[str],
    model: CelebrityModel,
    chosen: str,
    balance: str,
    balance_table: dict[str, dict],
    folds: int,
    validation: dict[str, dict],
    cross_validation: dict[str, dict] | None,
    command: str | None,
    counts: dict[str, int],
    timings: dict[str, float],
) -> dict:
    """The card of ``model``, the candidate ``chosen`` among those compared in ``validation`` (and, with
    ``select='cv'``, in ``cross_validation``): data, hyper-parameters, class-imbalance trials, timings, versions."""
    import sklearn

    from faceprint._tf import tensorflow
    from faceprint.version import __version__

    return {
        "name": "faceprint celebrity model",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "kind": model.kind,
        "chosen": chosen,
        "members": {name: pipeline.embedder(name).version for name in members},
        "labels": len(model.labels),
        "temperature": model.temperature,
        "data": {
            # Folder names only: the card ships inside the package, machine paths mean nothing elsewhere.
            "path": dataset.root.name,
            "source": Path(dataset.info.get("source") or "").name,
            "content_sha256": dataset.content_digest(),
            "split_seed": dataset.info.get("seed"),
            "split": dataset.info.get("split"),
            "augment": dataset.info.get("augment"),
            "prepare_counts": dataset.info.get("counts"),
            "used": counts,
        },
        "hyperparameters": {**dataclasses.asdict(config), "folds_used": folds},
        "imbalance": {"chosen": balance, "variants": balance_table},
        "selection": config.select,
        "validation": validation,
        **({"cross_validation": cross_validation} if cross_validation is not None else {}),
        "evaluations": [],
        "timings": timings,
        "versions": {
            "faceprint": __version__,
            "tensorflow": tensorflow().__version__,
            "keras": tensorflow().keras.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
    }


def write_card(directory: Path, card: dict) -> None:
    """Write ``model_card.json`` and its readable twin ``MODEL_CARD.md``."""
    directory = Path(directory)
    (directory / "model_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (directory / "MODEL_CARD.md").write_text(render_card(card))


def versus_reference(row: dict) -> str:
    """A candidate's paired comparison with the stack as short text, e.g. '3 / 5 (p 0.73)': images only it gets
    right / images only the stack gets right; empty for the stack itself."""
    paired = row.get(f"vs_{REFERENCE_CANDIDATE}")
    if paired is None:
        return ""
    return f"{paired['only_this_right']} / {paired['only_other_right']} (p {paired['p_value']:.2f})"


def render_card(card: dict) -> str:
    """The model card as Markdown."""
    lines = [
        f"# {card['name']}",
        "",
        f"Chosen model: **{card['chosen']}** (kind `{card['kind']}`), {card['labels']} people, "
        f"temperature {card['temperature']:.3f}. Created {card['created']} by:",
        "",
        f"    {card['command']}",
        "",
        "## Embedding models (members)",
        "",
        *[f"- `{name}`: `{version}`" for name, version in card["members"].items()],
        "",
        "## Data",
        "",
        f"- prepared dataset: `{card['data']['path']}` from `{card['data']['source']}`",
        f"- content SHA-256 (persons, splits, file hashes, augmentations): `{card['data']['content_sha256']}`",
        f"- split {card['data']['split']} with seed {card['data']['split_seed']}; used: {card['data']['used']}",
        f"- preparation counts: {card['data']['prepare_counts']}",
        f"- augmentation at preparation: {card['data']['augment']}",
        "",
        "## Class imbalance (level-0 logistic regressions, mean over members, validation split)",
        "",
        "| variant | training images | accuracy | macro F1 | log loss | calibrated log loss |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {name} | {row['train_images']} | {row['accuracy']:.4f} | {row['macro_f1']:.4f} | "
            f"{row['log_loss']:.4f} | {row['calibrated_log_loss']:.4f} |"
            for name, row in card["imbalance"]["variants"].items()
        ],
        "",
        f"Kept: **{card['imbalance']['chosen']}** (a change from 'none' is kept only if it measurably helps).",
        "",
        "## Candidates on the validation split",
        "",
        "| candidate | accuracy | top-3 | macro F1 | log loss | T | calibrated log loss | calibrated ECE |"
        " train OOF accuracy | vs stacking: only this / only stack right |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in card["validation"].items():
        oof = f"{row['train_oof']['accuracy']:.4f}" if "train_oof" in row else ""
        mark = " **(chosen)**" if name == card["chosen"] else ""
        lines.append(
            f"| {name}{mark} | {row['accuracy']:.4f} | {row['top3_accuracy']:.4f} | {row['macro_f1']:.4f} | "
            f"{row['log_loss']:.4f} | {row['temperature']:.3f} | {row['calibrated_log_loss']:.4f} | "
            f"{row['calibrated_ece']:.4f} | {oof} | {versus_reference(row)} |"
        )
    if card.get("cross_validation"):
        lines += [
            "",
            "## Candidates in pooled cross-validation (training and validation images, 5 folds over duplicate groups)",
            "",
            "| candidate | images | errors | accuracy | macro F1 | log loss | calibrated log loss |"
            " vs stacking: only this / only stack right |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, row in card["cross_validation"].items():
            mark = " **(chosen)**" if name == card["chosen"] else ""
            lines.append(
                f"| {name}{mark} | {row['images']} | {row['errors']} | {row['accuracy']:.4f} | {row['macro_f1']:.4f} | "
                f"{row['log_loss']:.4f} | {row['calibrated_log_loss']:.4f} | {versus_reference(row)} |"
            )
    selection = card.get("selection", "validation")
    lines += [
        "",
        f"Chosen by: **{'pooled cross-validation' if selection == 'cv' else 'the validation split'}**: the stack, "
        "unless the best candidate (highest accuracy, then macro F1, then lowest calibrated log loss) is significantly "
        f"better than it on the same images (exact McNemar test, p < {SIGNIFICANCE}). The temperature is fitted on "
        "the validation split.",
    ]
    lines += ["", "## Evaluations", ""]
    if not card.get("evaluations"):
        lines.append("None recorded yet (`faceprint evaluate ... --record` adds one).")
    for item in card.get("evaluations", []):
        lines.append(
            f"- {item['date']}: `{item['data']}`: {item['images']} images, accuracy {item['accuracy']:.4f}, "
            f"macro F1 {item['macro_f1']:.4f}, top-3 {item['top3_accuracy']:.4f}, no face {item['no_face']}, "
            f"ECE {item['ece']:.4f}"
        )
    hyper = card["hyperparameters"]
    lines += [
        "",
        "## Hyper-parameters",
        "",
        *[f"- {key}: {value}" for key, value in hyper.items()],
        "",
        "## Timings and versions",
        "",
        f"- {card['timings']}",
        f"- {card['versions']}",
        "",
    ]
    return "\n".join(lines)
