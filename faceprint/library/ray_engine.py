"""``faceprint index --engine ray``: the local indexer's job with reading, decoding, detection and embedding spread
over a Ray cluster.

A Ray Data pipeline streams the list of changed photo files through a pool of actors, each of which loads the
models once and analyses a batch of photos at a time with the local engine's own code (``indexer.decode_row``,
``indexer.analyse``), so both engines store the same faces. The driver names the faces of enrolled people and a few
writer threads store each batch in one transaction as results stream back, so memory stays bounded by Ray
Data's back-pressure and a stopped run resumes like a local one (unchanged files are skipped). A file that cannot
be read, decoded or analysed is reported with its reason; Ray restarts a worker that dies and retries its batch.

Ray is imported only here, and only when this engine runs: ``pip install 'faceprint[ray]'``."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import re
import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.imaging import DEFAULT_MAX_BYTES
from faceprint.library.indexer import Indexer, IndexSummary, analyse, decode_row
from faceprint.library.sources import PhotoFile, Reader, list_photos
from faceprint.library.store import KnownPhoto, PhotoRow

log = logging.getLogger(__name__)

INSTALL_HINT = "the Ray engine needs Ray: pip install 'faceprint[ray]'"
MAX_BLOCKS = 4096
"""The file list is cut into one block per batch, up to this many blocks (more would only cost bookkeeping)."""
KNOWN = "known"
"""A worker's answer for a file whose content is already indexed (touched or moved): only its hash comes back."""


def _ray():
    try:
        import ray
        import ray.data  # Ray Data needs pyarrow, which the extra installs
    except ImportError:
        raise FaceprintError(INSTALL_HINT) from None
    return ray


class PhotoAnalyser:
    """A Ray Data actor: loads the detector and the embedding networks once, then reads and analyses batches."""

    def __init__(self, detector_class: type, detector_settings: dict, models: Sequence[str], skip: frozenset[str]):
        from faceprint.pipeline import FacePipeline

        self.models = tuple(models)
        self.pipeline = FacePipeline(detector=detector_class(**detector_settings), models=self.models)
        self.pipeline.load_models()
        self.skip = skip
        self.reader = Reader()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: list[PhotoRow | tuple[str, str]] = []
        for path, size, stamp, previous in zip(batch["path"], batch["size"], batch["stamp"], batch["previous"]):
            rows.append(self._read(str(path), int(size), str(stamp), str(previous)))
        decoded = [r for r in rows if isinstance(r, PhotoRow) and r.error is None and r.width]
        try:
            analyse(self.pipeline, self.models, decoded)
        except Exception:  # one bad photo must not cost the batch: analyse the photos one by one
            for row in decoded:
                row.faces = []
                try:
                    analyse(self.pipeline, self.models, [row])
                except Exception as exc:
                    row.faces, row.error = [], f"analysis failed: {exc}"
                    vars(row).pop("_image", None)
        results = [pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL) for row in rows]
        return {"path": batch["path"], "result": np.array(results, dtype=object)}

    def _read(self, path: str, size: int, stamp: str, previous: str) -> PhotoRow | tuple[str, str]:
        """The row of one file, as the local engine's ``Indexer._read`` makes it, or (KNOWN, hash) when its content
        is already indexed (the previous content of this path, or of a file that disappeared)."""
        if size > DEFAULT_MAX_BYTES:
            return PhotoRow(path, "", stamp, error=f"larger than {DEFAULT_MAX_BYTES // (1024 * 1024)} MB")
        try:
            data = self.reader.read(path)
        except OSError as exc:
            return PhotoRow(path, "", "", error=exc.strerror or str(exc))
        digest = hashlib.sha256(data).hexdigest()
        if digest == previous or digest in self.skip:
            return (KNOWN, digest)
        return decode_row(path, digest, stamp, data)


def start_local_ray(ray, num_cpus: int, attempts: int = 3, **options) -> None:
    """Start a Ray cluster on this machine, on the loopback address. Ray gives its node 30 s to register, which a
    busy machine can miss: then it tries again (``RuntimeError`` after ``attempts``)."""
    for attempt in range(1, attempts + 1):
        try:
            ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", **options)
            return
        except Exception as exc:  # Ray raises a bare Exception for this time-out
            ray.shutdown()
            if "timed out during startup" not in str(exc) or attempt == attempts:
                raise RuntimeError(str(exc)) from None
            log.warning("the local Ray cluster did not start in time (attempt %d of %d)", attempt, attempts)


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once, with a message, when nothing listens at a ``host:port`` cluster address (Ray itself would
    retry for minutes)."""
    host, _, port = address.rpartition(":")
    if address == "auto" or "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise FaceprintError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with `ray start --head` "
            "and pass the address it prints, or leave out --ray-address for a local cluster"
        ) from None


class Writers:
    """A few threads that store batches side by side, in arrival order per thread. At most two batches per thread
    wait, so a slow database slows the stream down instead of filling memory; ``progress`` counts stored photos."""

    def __init__(self, store, count: int, summary: IndexSummary, total: int, progress) -> None:
        self.store, self.summary, self.total, self.progress = store, summary, total, progress
        self.pool = ThreadPoolExecutor(max(1, count), thread_name_prefix="faceprint-writer")
        self.limit = 2 * max(1, count)
        self.pending: deque[tuple[Future, int]] = deque()
        self.done = 0

    def submit(self, rows: list[PhotoRow], photos: int) -> None:
        """Store ``rows`` (``photos`` files handled, some of them only touched or moved) in one transaction."""
        self.pending.append((self.pool.submit(self.store.store, rows), photos))
        while len(self.pending) > self.limit or (self.pending and self.pending[0][0].done()):
            self._finish_oldest()

    def wait(self) -> None:
        while self.pending:
            self._finish_oldest()

    def _finish_oldest(self) -> None:
        future, photos = self.pending.popleft()
        self.summary.faces += future.result()
        self.done += photos
        if self.progress:
            self.progress(min(self.done, self.total), self.total)

    def close(self) -> None:
        """Let the batches already handed over finish (each is one transaction), then stop the threads."""
        self.pool.shutdown(wait=True)


@dataclasses.dataclass
class RayIndexer:
    """Indexes photos into a ``FaceRecognizer``'s gallery on a Ray cluster (``address`` None: a local one)."""

    recognizer: object
    batch_size: int = 16
    address: str | None = None
    workers: int | None = None
    """Analysing actors at most (None: one per ``cpus_per_worker`` CPUs of the cluster)."""
    cpus_per_worker: float = 1.0
    writers: int = 2
    """Threads storing batches side by side, each on its own database connection (SQLite takes them in turn)."""

    def run(
        self, paths: Sequence[str | os.PathLike], progress: Callable[[int, int], None] | None = None
    ) -> IndexSummary:
        """Index every photo under ``paths``; ``progress(done, total)`` is called after each stored batch."""
        ray = _ray()
        if self.address:
            _check_reachable(self.address)
        indexer = Indexer(self.recognizer, self.batch_size)  # the driver's store and naming
        store = indexer.store
        roots, files, problems = list_photos([str(p) for p in paths])
        summary = IndexSummary(errors=list(problems))
        known = store.known(roots)
        todo: list[PhotoFile] = []
        for photo in files:
            previous = known.get(photo.path)
            if previous is not None and previous.stamp == photo.stamp:
                summary.photos_unchanged += 1
                if previous.error:
                    summary.errors.append({"path": photo.path, "reason": previous.error})
            else:
                todo.append(photo)
        listed = {f.path for f in files}
        missing = [p for p in known if p not in listed]
        missing_by_hash = {known[p].content_hash: known[p] for p in missing if not known[p].error}
        if progress:
            progress(0, len(todo))
        writers = Writers(store, self.writers, summary, len(todo), progress)
        started = self._connect(ray) if todo else False  # nothing changed: no cluster needed
        try:
            skip = frozenset(missing_by_hash)
            while todo:
                again: list[PhotoFile] = []  # a second copy of a moved file's content: analysed in a second pass
                by_path = {photo.path: photo for photo in todo}
                for results in self._stream(ray, todo, known, skip):
                    rows, retried = [], len(again)
                    for path, result in results:
                        photo = by_path[path]
                        if isinstance(result, PhotoRow):
                            rows.append(result)
                        elif (previous := known.get(path)) is not None and previous.content_hash == result[1]:
                            store.update_stamp(previous.id, path, photo.stamp)
                            summary.photos_unchanged += 1
                        elif (moved := missing_by_hash.pop(result[1], None)) is not None:
                            store.update_stamp(moved.id, path, photo.stamp)
                            summary.photos_moved += 1
                        else:
                            again.append(photo)
                    indexer._name([f for r in rows for f in r.faces])
                    summary.named += sum(f.person is not None for r in rows for f in r.faces)
                    summary.photos_added += sum(r.error is None for r in rows)
                    summary.errors += [{"path": r.path, "reason": r.error} for r in rows if r.error]
                    writers.submit(rows, len(results) - (len(again) - retried))
                todo, skip = again, frozenset()
            writers.wait()
        except ray.exceptions.RayError as exc:  # e.g. workers that cannot import faceprint on another machine
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # Ray colours its messages
            first = text.splitlines()[0] if text else type(exc).__name__
            raise FaceprintError(
                f"the Ray job failed: {first} (finished batches are stored; run again to go on)"
            ) from None
        finally:
            writers.close()
            if started:
                ray.shutdown()
        current = store.known()  # moved photos now sit at their new paths
        gone = [current[p].id for p in missing if p in current]
        store.remove(gone)
        summary.photos_removed = len(gone)
        return summary

    def _connect(self, ray) -> bool:
        """Join the cluster at ``address``, or start a local one; True when this run started (and must stop) Ray."""
        if ray.is_initialized():
            return False
        options = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        logging.getLogger("ray").setLevel(logging.ERROR)
        # Ray's C++ core prints notices on the terminal (one per actor pool); real failures still raise.
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        try:
            if self.address:
                ray.init(address=self.address, **options)
            else:
                start_local_ray(ray, len(os.sched_getaffinity(0)), **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
            raise FaceprintError(f"cannot start or join {where}: {exc}") from None
        return True

    def _stream(
        self, ray, todo: list[PhotoFile], known: dict[str, KnownPhoto], skip: frozenset[str]
    ) -> Iterator[list[tuple[str, PhotoRow | tuple[str, str]]]]:
        """Results of the analysing actors, ``batch_size`` photos at a time, as they arrive (in any order)."""
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        cpus = float(ray.cluster_resources().get("CPU", 1))
        workers = self.workers or max(1, int(cpus // self.cpus_per_worker))
        items = [
            {
                "path": f.path,
                "size": f.size,
                "stamp": f.stamp,
                "previous": getattr(known.get(f.path), "content_hash", ""),
            }
            for f in todo
        ]
        detector = self.recognizer.pipeline.detector
        if not dataclasses.is_dataclass(detector):
            raise FaceprintError(f"the Ray engine rebuilds the detector on its workers: {type(detector).__name__} "
                                 "is not a dataclass")  # fmt: skip
        settings = {f.name: getattr(detector, f.name) for f in dataclasses.fields(detector) if f.init}
        batches = -(-len(items) // self.batch_size)
        dataset = ray.data.from_items(items, override_num_blocks=min(batches, MAX_BLOCKS)).map_batches(
            PhotoAnalyser,
            fn_constructor_kwargs={
                "detector_class": type(detector),
                "detector_settings": settings,
                "models": tuple(self.recognizer.models),
                "skip": skip,
            },
            batch_size=self.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(workers, batches)),
            num_cpus=self.cpus_per_worker,
        )
        for batch in dataset.iter_batches(batch_size=self.batch_size, batch_format="numpy"):
            yield [(str(p), pickle.loads(r)) for p, r in zip(batch["path"], batch["result"])]


def index_with_ray(
    library, paths: Sequence[str | os.PathLike], progress: Callable[[int, int], None] | None = None, **options
) -> IndexSummary:
    """``PhotoLibrary.index`` on a Ray cluster: index with a ``RayIndexer`` (``options``), then cluster the new
    unknown faces on the driver."""
    summary = RayIndexer(library.recognizer, library.batch_size, **options).run(paths, progress)
    library.update_clusters()
    return summary
