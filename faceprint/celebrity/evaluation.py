"""Metrics and the evaluation report of a celebrity model: numbers (scikit-learn) and pictures (matplotlib, Agg)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPORT_FILES = (
    "metrics.json",
    "classification_report.txt",
    "predictions.csv",
    "confusion_matrix.png",
    "per_class_f1.png",
    "reliability_diagram.png",
    "misclassified.png",
)
RELIABILITY_BINS = 10


def expected_calibration_error(probabilities: np.ndarray, y_true: np.ndarray, bins: int = RELIABILITY_BINS) -> dict:
    """Top-label calibration: per confidence bin, mean confidence, accuracy and count; ECE is their weighted gap."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        if count:
            gap = abs(float(confidence[mask].mean()) - float(correct[mask].mean()))
            ece += gap * count / len(y_true)
            table.append(
                {
                    "low": round(float(edges[b]), 2),
                    "high": round(float(edges[b + 1]), 2),
                    "count": count,
                    "confidence": float(confidence[mask].mean()),
                    "accuracy": float(correct[mask].mean()),
                }
            )
        else:
            table.append({"low": round(float(edges[b]), 2), "high": round(float(edges[b + 1]), 2), "count": 0})
    return {"ece": float(ece), "bins": table}


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]) -> dict:
    """Accuracy, top-3 accuracy, macro and weighted precision/recall/F1, per-class figures, log loss and ECE.
    Per-class and averaged figures are over the classes present in ``y_true`` (as scikit-learn's report)."""
    from sklearn.metrics import precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(y_true) == 0:
        return {"images": 0}
    y_pred = probabilities.argmax(axis=1)
    present = np.unique(y_true)
    ranks = np.argsort(-probabilities, axis=1, kind="stable")
    result: dict = {
        "images": len(y_true),
        "accuracy": float(np.mean(y_pred == y_true)),
        "top3_accuracy": float(np.mean([t in r[:3] for t, r in zip(y_true, ranks)])),
        "top5_accuracy": float(np.mean([t in r[:5] for t, r in zip(y_true, ranks)])),
    }
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=present, average=average, zero_division=0)
        result.update({f"{average}_precision": float(p), f"{average}_recall": float(r), f"{average}_f1": float(f)})
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=present, zero_division=0)
    result["per_class"] = {
        labels[c]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, c in enumerate(present)
    }
    picked = np.clip(probabilities[np.arange(len(y_true)), y_true], 1e-12, 1.0)
    result["log_loss"] = float(-np.mean(np.log(picked)))
    calibration = expected_calibration_error(probabilities, y_true)
    result["ece"] = calibration["ece"]
    result["reliability"] = calibration["bins"]
    result["mean_confidence"] = float(probabilities.max(axis=1).mean())
    return result


def brief(metrics: dict) -> dict:
    """The headline numbers of a metrics dict, rounded for tables."""
    keys = ("accuracy", "top3_accuracy", "macro_f1", "weighted_f1", "log_loss", "ece")
    return {key: round(metrics[key], 4) for key in keys if key in metrics}


def mcnemar(right_a: np.ndarray, right_b: np.ndarray) -> dict:
    """Two classifiers judged on the same images: how many only A gets right, how many only B, and the two-sided
    exact McNemar p-value (a binomial test on those discordant images; 1.0 when there are none)."""
    from scipy.stats import binomtest

    right_a, right_b = np.asarray(right_a, bool), np.asarray(right_b, bool)
    only_a, only_b = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    p_value = binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
    return {"only_this_right": only_a, "only_other_right": only_b, "p_value": round(float(p_value), 4)}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(path: Path, y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> None:
    """Seaborn heatmap of counts, coloured by each row's share (recall), zero cells left blank: legible at 31."""
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    plt = _plt()
    matrix = confusion_matrix(y_true, y_pred, labels=range(len(labels)))
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    annotations = np.where(matrix > 0, matrix.astype(str), "")
    side = max(6.0, 0.42 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    sns.heatmap(
        share,
        annot=annotations,
        fmt="",
        cmap="Blues",
        vmin=0,
        vmax=1,
        square=True,
        linewidths=0.4,
        linecolor="#dddddd",
        xticklabels=labels,
        yticklabels=labels,
        cbar_kws={"label": "share of the true person's images", "shrink": 0.6},
        annot_kws={"fontsize": 8},
        ax=ax,
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    errors = int(matrix.sum() - np.trace(matrix))
    ax.set_title(f"Confusion matrix: {int(matrix.sum())} images, {errors} misclassified")
    ax.tick_params(axis="x", labelrotation=90, labelsize=9)
    ax.tick_params(axis="y", labelrotation=0, labelsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_per_class_f1(path: Path, metrics: dict) -> None:
    """Horizontal bars of each person's F1 (worst at the top), with their number of test images."""
    plt = _plt()
    rows = sorted(metrics["per_class"].items(), key=lambda item: (item[1]["f1"], item[0]))
    names = [name for name, _ in rows]
    values = [row["f1"] for _, row in rows]
    fig, ax = plt.subplots(figsize=(8, max(4.0, 0.28 * len(rows) + 1.5)))
    colours = ["#c0392b" if v < 0.95 else "#e67e22" if v < 0.99 else "#2e86c1" for v in values]
    ax.barh(range(len(rows)), values, color=colours)
    ax.set_yticks(range(len(rows)), names, fontsize=9)
    low = min([*values, 0.9])
    ax.set_xlim(max(0.0, math.floor(low * 20) / 20 - 0.05), 1.02)
    for i, (_, row) in enumerate(rows):
        ax.text(ax.get_xlim()[0] + 0.002, i, f" n={row['support']}", va="center", fontsize=7, color="white")
        ax.text(row["f1"] + 0.002, i, f"{row['f1']:.3f}", va="center", fontsize=7)
    ax.axvline(
        metrics["macro_f1"], color="black", linestyle="--", linewidth=1, label=f"macro F1 {metrics['macro_f1']:.4f}"
    )
    ax.set_xlabel("F1")
    ax.set_title("F1 per person")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(path: Path, metrics: dict) -> None:
    """Reliability diagram (accuracy against confidence per bin) above a histogram of confidences."""
    plt = _plt()
    bins = metrics["reliability"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 7), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    filled = [b for b in bins if b["count"]]
    top.bar(
        [(b["low"] + b["high"]) / 2 for b in filled],
        [b["accuracy"] for b in filled],
        width=1.0 / len(bins) * 0.9,
        color="#2e86c1",
        edgecolor="black",
        label="accuracy",
    )
    top.plot(
        [b["confidence"] for b in filled], [b["accuracy"] for b in filled], "o", color="#c0392b", label="mean conf."
    )
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1.02)
    top.set_title(f"Reliability: ECE {metrics['ece']:.4f}, log loss {metrics['log_loss']:.4f}")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centres, [b["count"] for b in bins], width=1.0 / len(bins) * 0.9, color="#7f8c8d")
    bottom.set_yscale("log")
    bottom.set_xlabel("confidence of the top prediction")
    bottom.set_ylabel("images (log)")
    bottom.set_xlim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_contact_sheet(path: Path, faces: Sequence[np.ndarray], captions: Sequence[str], columns: int = 6) -> None:
    """A grid of face crops with captions (true -> predicted); a short note when there is nothing to show."""
    plt = _plt()
    if not faces:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "No misclassified faces", ha="center", va="center", fontsize=14)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return
    columns = min(columns, len(faces))
    rows = math.ceil(len(faces) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.9 * rows), squeeze=False)
    for ax in axes.reshape(-1):
        ax.axis("off")
    for ax, face, caption in zip(axes.reshape(-1), faces, captions):
        ax.imshow(face)
        ax.set_title(caption, fontsize=8)
    fig.suptitle(f"Misclassified faces ({len(faces)})", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(
    directory: Path,
    metrics: dict,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    labels: Sequence[str],
    sources: Sequence[str],
    methods: Sequence[str],
    misclassified_faces: Sequence[np.ndarray],
) -> list[Path]:
    """Write every file of REPORT_FILES into ``directory``; returns their paths."""
    import pandas as pd
    from sklearn.metrics import classification_report

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    y_pred = probabilities.argmax(axis=1) if len(y_true) else np.zeros(0, dtype=int)
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    present = np.unique(y_true)
    report = classification_report(
        y_true, y_pred, labels=present, target_names=[labels[c] for c in present], digits=4, zero_division=0
    )
    (directory / "classification_report.txt").write_text(report)
    frame = pd.DataFrame(
        {
            "source": list(sources),
            "true": [labels[t] for t in y_true],
            "predicted": [labels[p] for p in y_pred],
            "confidence": np.round(probabilities.max(axis=1), 6) if len(y_true) else [],
            "correct": y_true == y_pred,
            "face": list(methods),
        }
    )
    frame.to_csv(directory / "predictions.csv", index=False)
    plot_confusion_matrix(directory / "confusion_matrix.png", y_true, y_pred, labels)
    plot_per_class_f1(directory / "per_class_f1.png", metrics)
    plot_reliability(directory / "reliability_diagram.png", metrics)
    wrong = np.flatnonzero(y_true != y_pred)
    captions = [
        f"{labels[y_true[i]]}\n→ {labels[y_pred[i]]} ({probabilities[i].max():.2f})"
        for i in wrong[: len(misclassified_faces)]
    ]
    plot_contact_sheet(directory / "misclassified.png", list(misclassified_faces), captions)
    return [directory / name for name in REPORT_FILES]
