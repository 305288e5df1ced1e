"""An annotated copy of a video: every track's box (interpolated between detections) and its name on every frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceprint.annotate import draw_faces
from faceprint.errors import FaceprintError
from faceprint.video.analyse import VideoResult
from faceprint.video.decode import VideoReader

MAX_GAP = 1.0
"""A track's box is drawn only between detections at most this many seconds apart."""


def box_at(boxes: np.ndarray, seconds: float) -> list[float] | None:
    """A track's box at ``seconds`` (rows t, x, y, w, h sorted by t), linearly between its detections."""
    times = boxes[:, 0]
    if seconds < times[0] - 0.05 or seconds > times[-1] + 0.2:
        return None
    after = int(np.searchsorted(times, seconds))
    if after == 0 or after == len(times):
        return boxes[min(after, len(times) - 1), 1:].tolist()
    t0, t1 = times[after - 1], times[after]
    if t1 - t0 > MAX_GAP:
        return None
    weight = (seconds - t0) / max(t1 - t0, 1e-6)
    return ((1 - weight) * boxes[after - 1, 1:] + weight * boxes[after, 1:]).tolist()


def write_annotated(source: str | Path, result: VideoResult, target: str | Path, max_side: int = 1920) -> Path:
    """Write ``target`` (MP4, H.264) from ``source`` with every track drawn; a file source only (it is read again)."""
    import av

    target = Path(target)
    if target.parent and not target.parent.exists():
        raise FaceprintError(f"--annotate: the folder {target.parent} does not exist")
    tracks = result.to_dict()["tracks"]
    paths = [(t, np.array(sorted(t["boxes"]), dtype=np.float64)) for t in tracks if t["boxes"]]
    labels = {t["id"]: f"{t['identity']} ({t['similarity']:.0f})" if t["identity"] else "unknown" for t in tracks}
    fps = result.info.fps or 25.0
    try:
        output = av.open(str(target), mode="w")
    except (OSError, av.error.FFmpegError) as exc:
        raise FaceprintError(f"--annotate: cannot write {target}: {exc}") from None
    with VideoReader(source, max_side=max_side) as reader, output:
        stream = None
        for frame in reader.frames():
            pixels = frame.pixels
            if stream is None:
                stream = output.add_stream("libx264", rate=round(fps) or 25)
                stream.width, stream.height = pixels.shape[1] // 2 * 2, pixels.shape[0] // 2 * 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"preset": "veryfast", "crf": "23"}
            faces, names, known = [], [], []
            for track, boxes in paths:
                box = box_at(boxes, frame.time)
                if box is not None:
                    faces.append({"box": [v * frame.scale for v in box]})
                    names.append(labels[track["id"]])
                    known.append(track["identity"] is not None)
            picture = np.asarray(draw_faces(pixels, faces, names, known))[: stream.height, : stream.width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")):
                output.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                output.mux(packet)
    return target
