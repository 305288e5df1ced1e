"""A small real subset of the celebrity collection (6 people x 10 photos, plus junk and duplicates), prepared
once per session with the real pipeline, so every celebrity test runs on real faces in little time."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest
from celebrity_subset import JUNK, PEOPLE, PER_PERSON, SPLIT


@pytest.fixture(scope="session")
def celebrity_source(datasets: Path) -> Path:
    return datasets / "celebrity-faces-31"


@pytest.fixture(scope="session")
def subset(tmp_path_factory, celebrity_source: Path) -> Path:
    """SRC for prepare: train/ and validation/ folders like the real collection, with the AppleDouble junk file,
    an empty .jpg, two byte-identical files (one renamed into validation/) and a downscaled copy of a photo."""
    root = tmp_path_factory.mktemp("celebrity-subset")
    for person in PEOPLE:
        files = sorted((celebrity_source / "train" / person).glob("*.jpg"), key=lambda p: (len(p.name), p.name))
        files = [f for f in files if not f.name.startswith("._")][:PER_PERSON]
        (root / "train" / person).mkdir(parents=True)
        for file in files:
            (root / "train" / person / file.name).symlink_to(file)
    shutil.copy(celebrity_source / "train" / "Kashyap" / JUNK, root / "train" / "Kashyap" / JUNK)
    (root / "train" / "Marmik" / "empty.jpg").write_bytes(b"")
    # an exact copy filed under validation/, and a half-size re-encoded copy (a near duplicate)
    original = sorted((root / "train" / "Brad Pitt").glob("*.jpg"))[0]
    (root / "validation" / "Brad Pitt").mkdir(parents=True)
    shutil.copy(original, root / "validation" / "Brad Pitt" / "copy_of_first.jpg")
    image = cv2.imread(str(sorted((root / "train" / "Roger Federer").glob("*.jpg"))[0]))
    small = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(root / "train" / "Roger Federer" / "smaller_copy.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return root


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, subset: Path, pipeline):
    """``prepare_dataset`` on the subset (seed 3), with its result."""
    from faceprint.celebrity.dataset import prepare_dataset

    out = tmp_path_factory.mktemp("prepared") / "data"
    result = prepare_dataset(subset, out, pipeline, fractions=SPLIT, seed=3, progress=False)
    return out, result


@pytest.fixture(scope="session")
def trained(tmp_path_factory, prepared, pipeline):
    """A model trained on the prepared subset (few epochs: it only has to learn, not to be the best)."""
    from faceprint.celebrity.config import TrainConfig
    from faceprint.celebrity.training import train_model

    out = tmp_path_factory.mktemp("model") / "celebrity"
    config = TrainConfig(seed=1, folds=3, epochs=80, patience=10)
    return out, train_model(prepared[0], out, pipeline, config, progress=False, command="pytest")
