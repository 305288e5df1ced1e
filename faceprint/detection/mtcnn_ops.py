"""MTCNN's box arithmetic in NumPy: proposal decoding, non-maximum suppression, box regression, patch extraction.

These are the steps of PyPI ``mtcnn`` 1.0.0 (``mtcnn.utils``), rewritten without TensorFlow and in the package's
order and precision, so that boxes, scores and landmarks are the package's up to float rounding. Importing the
package's own helpers would import TensorFlow (its ``utils.images`` module does at the top). Box rows are
``[image index, x1, y1, x2, y2, score, (5 landmark x, 5 landmark y)]``, as in the package."""

from __future__ import annotations

import numpy as np

CELL = 12
"""P-net's window (pixels) and, with ``STRIDE``, where each of its output cells looks."""
STRIDE = 2


def scale_pyramid(width: int, height: int, min_face_size: int, scale_factor: float, min_size: int = CELL) -> np.ndarray:
    """The package's scales: ``min_size / min_face_size`` times powers of ``scale_factor``, as many as fit."""
    count = round(-((np.log(min(width, height) / min_size) / np.log(scale_factor)) + 1))
    return (min_size / min_face_size) * scale_factor ** np.arange(count)


def _sorted_descending(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    # The package's sort (numpy's default quicksort, reversed), kept so ties break exactly as they do there.
    return rows[np.argsort(scores)[::-1]]


def proposals(regression: np.ndarray, classes: np.ndarray, threshold: float) -> np.ndarray:
    """P-net output cells whose face probability exceeds ``threshold``, as box rows in the P-net input's pixels,
    best first (``generate_bounding_box``)."""
    score = classes[..., 1]
    batch, y, x = np.nonzero(score > threshold)
    reg = regression[batch, y, x].astype(np.float64)
    # The package's cell spans pixels 1..12 of the window (so 11 wide), and the regression scales by that width.
    x1, y1, x2, y2 = x * STRIDE + 1, y * STRIDE + 1, x * STRIDE + CELL, y * STRIDE + CELL
    side = CELL - 1
    rows = np.stack(
        [
            batch.astype(np.float64),
            x1 + reg[:, 0] * side,
            y1 + reg[:, 1] * side,
            x2 + reg[:, 2] * side,
            y2 + reg[:, 3] * side,
            score[batch, y, x].astype(np.float64),
        ],
        axis=1,
    )
    return _sorted_descending(rows, rows[:, -1])


def _overlap(boxes: np.ndarray, others: np.ndarray, method: str) -> np.ndarray:
    """Overlap of every box in ``boxes`` (rows) with every box in ``others`` (columns): intersection over union,
    or over the smaller area (``method="min"``)."""
    area_a = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    area_b = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    top = np.maximum(boxes[:, None, 0], others[None, :, 0])
    left = np.maximum(boxes[:, None, 1], others[None, :, 1])
    bottom = np.minimum(boxes[:, None, 2], others[None, :, 2])
    right = np.minimum(boxes[:, None, 3], others[None, :, 3])
    inter = np.maximum(0, bottom - top) * np.maximum(0, right - left)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "union":
            return inter / (area_a[:, None] + area_b[None, :] - inter)
        if method == "min":
            return inter / np.minimum(area_a[:, None], area_b[None, :])
    raise ValueError("method must be 'union' or 'min'")


def _keep(boxes: np.ndarray, threshold: float, method: str, block: int = 512) -> np.ndarray:
    """Indices of the boxes that overlap no earlier box by more than ``threshold``.

    The package's rule: an earlier box suppresses a later one even when it was itself suppressed. It builds the
    whole N x N matrix; here it is computed in blocks of columns, which gives the same answer in far less memory
    (a 1280 px photo can give thousands of proposals)."""
    keep = []
    for start in range(0, len(boxes), block):
        stop = min(start + block, len(boxes))
        overlap = _overlap(boxes[:stop], boxes[start:stop], method)
        earlier = np.arange(stop)[:, None] < np.arange(start, stop)[None, :]
        keep.append(start + np.flatnonzero(~((overlap > threshold) & earlier).any(axis=0)))
    return np.concatenate(keep) if keep else np.empty(0, dtype=int)


def nms(rows: np.ndarray, threshold: float, method: str = "union", initial_sort: bool = True) -> np.ndarray:
    """Non-maximum suppression per image (``smart_nms_from_bboxes``), optionally sorting by score first."""
    if initial_sort:
        rows = _sorted_descending(rows, rows[:, 5])
    kept = []
    for image in sorted(set(rows[:, 0].tolist())):  # not np.unique: on floats it imports numpy.ma (~40 ms, once)
        subset = rows[rows[:, 0] == image]
        kept.append(subset[_keep(subset[:, 1:5], threshold, method)])
    return np.concatenate(kept, axis=0) if kept else np.empty((0, rows.shape[1]))


def square(rows: np.ndarray) -> np.ndarray:
    """Boxes grown to squares around their centres (``resize_to_square``)."""
    rows = rows.copy()
    h = rows[:, 4] - rows[:, 2]
    w = rows[:, 3] - rows[:, 1]
    side = np.maximum(w, h)
    rows[:, 1] = rows[:, 1] + w * 0.5 - side * 0.5
    rows[:, 2] = rows[:, 2] + h * 0.5 - side * 0.5
    rows[:, 3] = rows[:, 1] + side
    rows[:, 4] = rows[:, 2] + side
    return rows


def refine(rows: np.ndarray, scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """New scores (the network's face probability) and boxes moved by the regressed offsets (``replace_confidence``
    then ``adjust_bboxes``)."""
    rows = rows.copy()
    rows[:, 5] = scores[:, -1]
    w = rows[:, 3] - rows[:, 1] + 1
    h = rows[:, 4] - rows[:, 2] + 1
    rows[:, 1:5] += offsets * np.stack([w, h, w, h], axis=-1)
    return rows


def place_landmarks(landmarks: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """O-net's landmarks (fractions of the box) in image pixels (``adjust_landmarks``; float32, as there)."""
    landmarks = np.array(landmarks, dtype=np.float32)
    w = rows[:, 3:4] - rows[:, 1:2] + 1
    h = rows[:, 4:5] - rows[:, 2:3] + 1
    landmarks[:, 0:5] = w * landmarks[:, 0:5] + rows[:, 1:2] - 1
    landmarks[:, 5:10] = h * landmarks[:, 5:10] + rows[:, 2:3] - 1
    return landmarks


def above(rows: np.ndarray, threshold: float, column: int = 5) -> np.ndarray:
    """Rows whose ``column`` exceeds ``threshold`` (``pick_matches``)."""
    return rows[rows[:, column] > threshold]


def clip_boxes(rows: np.ndarray, height: int, width: int) -> np.ndarray:
    """Box corners limited to the image (``limit_bboxes`` without the landmarks)."""
    rows = rows.copy()
    rows[:, [1, 3]] = np.clip(rows[:, [1, 3]], 0, width - 1)
    rows[:, [2, 4]] = np.clip(rows[:, [2, 4]], 0, height - 1)
    return rows


def crop_and_resize(images: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    """``size`` x ``size`` bilinear crops of the boxes in ``rows`` from a float32 NHWC batch, sampled exactly as
    ``tf.image.crop_and_resize`` samples the package's normalised boxes (corners map to corners; samples outside
    the image are 0)."""
    _, height, width, channels = images.shape
    if not len(rows):
        return np.zeros((0, size, size, channels), dtype=np.float32)
    # The package divides the corners by the image size; TensorFlow then maps them to pixel positions in float32.
    y1 = (rows[:, 2] / height).astype(np.float32)
    x1 = (rows[:, 1] / width).astype(np.float32)
    y2 = (rows[:, 4] / height).astype(np.float32)
    x2 = (rows[:, 3] / width).astype(np.float32)
    steps = np.arange(size, dtype=np.float32)
    ys = (y1 * np.float32(height - 1))[:, None] + steps[None, :] * ((y2 - y1) * np.float32(height - 1) / (size - 1))[
        :, None
    ]
    xs = (x1 * np.float32(width - 1))[:, None] + steps[None, :] * ((x2 - x1) * np.float32(width - 1) / (size - 1))[
        :, None
    ]
    valid = ((ys >= 0) & (ys <= height - 1))[:, :, None] & ((xs >= 0) & (xs <= width - 1))[:, None, :]
    top, left = np.floor(ys), np.floor(xs)
    y_lerp, x_lerp = (ys - top)[:, :, None, None], (xs - left)[:, None, :, None]
    top_i = np.clip(top, 0, height - 1).astype(np.intp)
    left_i = np.clip(left, 0, width - 1).astype(np.intp)
    bottom_i = np.clip(np.ceil(ys), 0, height - 1).astype(np.intp)
    right_i = np.clip(np.ceil(xs), 0, width - 1).astype(np.intp)
    image = rows[:, 0].astype(np.intp)[:, None, None]
    pixels = images.reshape(-1, channels)

    def pick(rows_i: np.ndarray, cols_i: np.ndarray) -> np.ndarray:
        # One flat index per sample and np.take of whole pixels: several times faster than 3-D fancy indexing.
        return np.take(pixels, (image * height + rows_i[:, :, None]) * width + cols_i[:, None, :], axis=0)

    top_left, bottom_left = pick(top_i, left_i), pick(bottom_i, left_i)
    top_row = top_left + (pick(top_i, right_i) - top_left) * x_lerp
    bottom_row = bottom_left + (pick(bottom_i, right_i) - bottom_left) * x_lerp
    crops = top_row + (bottom_row - top_row) * y_lerp
    return np.where(valid[..., None], crops, np.float32(0)).astype(np.float32, copy=False)
