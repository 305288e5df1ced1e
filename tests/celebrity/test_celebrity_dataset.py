"""faceprint prepare: reproducible stratified splits, duplicates kept together, junk skipped with a warning,
augmentation of the training split only."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from celebrity_subset import JUNK, PEOPLE, SPLIT

from faceprint.celebrity.dataset import (
    MANIFEST,
    SPLITS,
    AugmentConfig,
    PreparedDataset,
    assign_splits,
    augment_crop,
    prepare_dataset,
    scan_collection,
    split_counts,
)
from faceprint.errors import DatasetError


def test_split_counts_follow_fractions_and_fill_small_splits():
    assert split_counts(10, (0.8, 0.1, 0.1)) == [8, 1, 1]
    assert split_counts(28, (0.8, 0.1, 0.1)) == [22, 3, 3]
    assert split_counts(3, (0.8, 0.1, 0.1)) == [1, 1, 1]
    assert split_counts(5, (1.0, 0.0, 0.0)) == [5, 0, 0]
    for total in range(3, 120):
        assert sum(split_counts(total, (0.7, 0.2, 0.1))) == total


def test_assign_splits_is_seeded_stratified_and_keeps_groups_together():
    people = [f"p{i % 7}" for i in range(700)]
    # the first 210 items in groups of 3 of one person (i, i + 7, i + 14), the rest alone
    groups = [f"g{i // 21}-{i % 7}" if i < 210 else f"g{i}" for i in range(700)]
    first = assign_splits(people, groups, (0.8, 0.1, 0.1), seed=5)
    assert first == assign_splits(people, groups, (0.8, 0.1, 0.1), seed=5)
    assert first != assign_splits(people, groups, (0.8, 0.1, 0.1), seed=6)
    frame = pd.DataFrame({"person": people, "group": groups, "split": first})
    assert frame.groupby("group")["split"].nunique().max() == 1
    counts = frame.groupby(["person", "split"]).size().unstack()
    assert (counts["train"] >= 78).all() and (counts["validation"] >= 8).all() and (counts["test"] >= 8).all()
    # a person's split depends only on its own files: adding another person changes nothing for the others
    more = assign_splits([*people, "new", "new"], [*groups, "x", "y"], (0.8, 0.1, 0.1), seed=5)
    assert more[:700] == first


def test_scan_pools_split_folders_per_person(subset):
    items = scan_collection(subset)
    assert {item.person for item in items} == set(PEOPLE)
    assert any(item.relative.startswith("validation/") for item in items)


def test_prepare_writes_manifest_and_crops(prepared):
    out, result = prepared
    manifest = pd.read_csv(out / MANIFEST)
    for column in ("source", "person", "split", "status", "box_x", "box_y", "box_w", "box_h", "score", "content_hash"):
        assert column in manifest.columns
    usable = manifest[manifest["status"] == "ok"]
    assert len(usable) >= len(PEOPLE) * 10
    for crop in usable["crop"]:
        assert (out / crop).is_file() and crop.split("/")[0] in SPLITS
    assert (usable["score"] > 0.9).all()
    assert result.summary.loc["TOTAL", "files"] == len(manifest)


def test_split_is_stratified_and_reproducible(prepared, subset, pipeline, tmp_path):
    out, result = prepared
    manifest = result.manifest
    usable = manifest[manifest["split"] != ""]
    for person in PEOPLE:
        counts = usable[usable["person"] == person]["split"].value_counts()
        assert counts.get("validation", 0) >= 1 and counts.get("test", 0) >= 1, person
        assert counts["train"] >= counts.get("validation", 0) + counts.get("test", 0), person
    again = prepare_dataset(subset, tmp_path / "again", pipeline, fractions=SPLIT, seed=3, progress=False)
    assert again.manifest["split"].tolist() == manifest["split"].tolist()
    assert (tmp_path / "again" / MANIFEST).read_bytes() == (out / MANIFEST).read_bytes()
    other = prepare_dataset(subset, tmp_path / "other", pipeline, fractions=SPLIT, seed=4, progress=False)
    assert other.manifest["split"].tolist() != manifest["split"].tolist()


def test_duplicates_never_straddle_splits(prepared):
    _, result = prepared
    manifest = result.manifest[result.manifest["split"] != ""]
    assert manifest.groupby("content_hash")["split"].nunique().max() == 1
    assert manifest.groupby("group")["split"].nunique().max() == 1
    copy = manifest[manifest["source"] == "validation/Brad Pitt/copy_of_first.jpg"].iloc[0]
    twins = manifest[manifest["content_hash"] == copy["content_hash"]]
    assert len(twins) == 2 and result.counts["exact_duplicates"] >= 1
    smaller = manifest[manifest["source"] == "train/Roger Federer/smaller_copy.jpg"].iloc[0]
    near = manifest[manifest["group"] == smaller["group"]]
    assert len(near) >= 2, "the downscaled copy was not recognised as the same photo"
    assert result.counts["near_duplicates"] >= 1


def test_junk_files_are_skipped_with_a_counted_warning(subset, pipeline, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="faceprint"):
        result = prepare_dataset(subset, tmp_path / "out", pipeline, fractions=SPLIT, seed=3, progress=False)
    assert result.counts["unreadable"] == 2
    skipped = result.manifest[result.manifest["status"] == "unreadable"]
    assert set(skipped["source"]) == {f"train/Kashyap/{JUNK}", "train/Marmik/empty.jpg"}
    assert (skipped["split"] == "").all()
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert JUNK in messages and "empty.jpg" in messages
    assert "skipped 2 file(s) that are not readable images" in messages


def test_prepare_refuses_to_overwrite_without_permission(prepared, subset, pipeline, tmp_path):
    out, _ = prepared
    with pytest.raises(DatasetError, match="--overwrite"):
        prepare_dataset(subset, out, pipeline, fractions=SPLIT, progress=False)
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(DatasetError, match="not empty"):
        prepare_dataset(subset, tmp_path, pipeline, fractions=SPLIT, progress=False)
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_augmentation_touches_the_training_split_only_and_balances(subset, pipeline, tmp_path):
    config = AugmentConfig.parse("all", target=9)
    result = prepare_dataset(
        subset, tmp_path / "aug", pipeline, fractions=SPLIT, seed=3, augment=config, progress=False
    )
    manifest = result.manifest
    augmented = manifest[manifest["status"] == "augmented"]
    assert len(augmented) > 0 and (augmented["split"] == "train").all()
    train = manifest[(manifest["split"] == "train") & manifest["status"].isin(["ok", "augmented"])]
    assert (train.groupby("person").size() >= 9).all()
    for crop in augmented["crop"]:
        assert (tmp_path / "aug" / crop).is_file()
    # an augmented copy stays in its original's duplicate group (so k-fold never separates them)
    originals = manifest[manifest["status"] == "ok"].set_index("crop")["group"]
    for _, row in augmented.iterrows():
        assert originals[row["crop"].rsplit("_aug", 1)[0] + ".png"] == row["group"]
    assert PreparedDataset.load(tmp_path / "aug").rows("train", ("augmented",)).shape[0] == len(augmented)


def test_augment_crop_is_deterministic_and_mirrors_landmarks():
    rng_image = np.random.default_rng(1)
    crop = rng_image.integers(0, 255, (288, 288, 3), dtype=np.uint8)
    points = np.array([[112, 122], [176, 122], [144, 160], [116, 193], [172, 193]], dtype=np.float32)
    config = AugmentConfig(ops=("flip",))
    flips = [augment_crop(crop, points, np.random.default_rng(seed), config) for seed in range(8)]
    flipped = next(item for item in flips if item[2] == "flip")
    assert np.array_equal(flipped[0], crop[:, ::-1])
    assert np.allclose(flipped[1][0], [287 - 176, 122]) and np.allclose(flipped[1][3], [287 - 172, 193])
    a = augment_crop(crop, points, np.random.default_rng(7), AugmentConfig())
    b = augment_crop(crop, points, np.random.default_rng(7), AugmentConfig())
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
    with pytest.raises(DatasetError):
        AugmentConfig.parse("flip,teleport")
