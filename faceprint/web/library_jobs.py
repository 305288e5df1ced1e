"""Index runs of the photo library started from the web app: one at a time per app, in a background thread, with
progress the Library page polls (so a reload finds the run where it is).

Each batch of photos runs the models only when the app's inference scheduler gives it a place, as a heavy request,
so visitors' requests keep their own places while a large folder is indexed. The indexer commits each batch, so a
server stopped during a run loses at most one batch; running the same folder again resumes it."""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from faceprint.errors import FaceprintError
from faceprint.web.errorhandlers import ApiError

log = logging.getLogger(__name__)

BATCH_COST_MEGAPIXELS = 8.0
"""What one batch counts for in the scheduler: above the heavy mark, so it never takes a small request's place."""
BUSY_RETRY_S = 1.0


class IndexRunning(ApiError):
    def __init__(self, job: IndexJob) -> None:
        super().__init__(
            f"an index run is already going ({job.done} of {job.total} photos); wait for it to finish",
            code="index_running",
            http_status=409,
        )


@dataclass
class IndexJob:
    """One index run: what it indexes, how far it is, and how it ended."""

    id: int
    paths: list[str]
    state: str = "running"  # running, clustering, finished, failed
    done: int = 0
    total: int = 0
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    summary: dict | None = None
    error: str | None = None
    _clock: float = field(default_factory=time.monotonic)
    _first: tuple[float, int] | None = None

    @property
    def active(self) -> bool:
        return self.state in ("running", "clustering")

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self._first is None:
            self._first = (time.monotonic(), done)

    def eta_s(self) -> float | None:
        """Seconds left at the pace since the first batch, once there is a pace."""
        if self.state != "running" or self._first is None or self.done <= self._first[1]:
            return None
        elapsed = time.monotonic() - self._first[0]
        rate = (self.done - self._first[1]) / elapsed if elapsed > 0 else 0.0
        return round((self.total - self.done) / rate, 1) if rate > 0 else None

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "paths": list(self.paths),
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "eta_s": self.eta_s(),
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "summary": self.summary,
            "error": self.error,
        }


class IndexJobs:
    """The app's index runs: at most one going; the latest is kept to report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.latest: IndexJob | None = None

    def start(self, recognizer, scheduler, paths: Sequence[str], batch_size: int = 16) -> IndexJob:
        """Start indexing ``paths`` in a background thread; ``IndexRunning`` (409) while another run goes."""
        with self._lock:
            if self.latest is not None and self.latest.active:
                raise IndexRunning(self.latest)
            job = IndexJob(next(self._ids), list(paths))
            self.latest = job
        thread = threading.Thread(
            target=self._run, args=(job, recognizer, scheduler, batch_size), name=f"faceprint-index-{job.id}"
        )
        thread.daemon = True
        thread.start()
        return job

    def wait(self, timeout: float | None = None) -> IndexJob | None:
        """Wait until the latest run ends (for tests and shutdown); the run."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.latest is not None and self.latest.active:
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return self.latest

    @staticmethod
    def _run(job: IndexJob, recognizer, scheduler, batch_size: int) -> None:
        from faceprint.library.library import PhotoLibrary

        @contextlib.contextmanager
        def gate() -> Iterator[None]:
            with contextlib.ExitStack() as stack:
                while True:  # a busy server delays the run, it does not fail it
                    try:
                        stack.enter_context(scheduler.slot(BATCH_COST_MEGAPIXELS))
                        break
                    except ApiError as busy:
                        if busy.http_status != 503:
                            raise
                        time.sleep(BUSY_RETRY_S)
                yield

        def progress(done: int, total: int) -> None:
            job.progress(done, total)
            if total and done >= total:
                job.state = "clustering"

        try:
            library = PhotoLibrary(recognizer, batch_size=batch_size)
            summary = library.index(job.paths, progress, gate=gate)
            job.summary = {**summary.to_dict(), "errors": summary.errors[:200], "error_count": len(summary.errors)}
            job.state = "finished"
        except FaceprintError as error:
            job.error, job.state = error.message, "failed"
        except Exception:  # never a traceback to the page; the server log has it
            log.exception("index run %s failed", job.id)
            job.error, job.state = "the index run failed unexpectedly; the server log has the details", "failed"
        finally:
            job.finished = datetime.now(UTC)
