"""Run faceprint's TensorFlow networks with ONNX Runtime: converted once per machine, cached, then loaded in ms.

On two CPU cores ONNX Runtime runs these small-batch convolutional networks 1.5-2.5x faster than TensorFlow
(BENCHMARKS.md section 5): it fuses convolution, batch normalisation and activation, and its per-call overhead is
a fraction of a millisecond. The networks are converted from the very graphs the TensorFlow engine runs (tf2onnx),
so outputs agree to float rounding (tests check each network). Nothing is downloaded: the converted file is derived
from the weights the pip packages ship and is stored in ``$FACEPRINT_CACHE_DIR/onnx`` under a name that includes
a digest of those weights and the converter's version, so new weights or a new converter mean a new conversion."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import numpy as np

from faceprint.cache import default_cache_dir
from faceprint.errors import ModelUnavailableError

log = logging.getLogger(__name__)

ENGINES = ("onnxruntime", "tensorflow")
OPSET = 17


def default_engine() -> str:
    """``$FACEPRINT_ENGINE`` (``onnxruntime`` or ``tensorflow``), else ``onnxruntime``."""
    engine = os.environ.get("FACEPRINT_ENGINE", "onnxruntime")
    if engine not in ENGINES:
        raise ValueError(f"FACEPRINT_ENGINE must be one of {', '.join(ENGINES)}, not '{engine}'")
    return engine


def files_digest(paths: Iterable[Path], *extra: str) -> str:
    """A short SHA-256 over the bytes of ``paths`` (in the given order) and any ``extra`` strings.

    Remembered in the cache folder under the files' paths, sizes and modification times: the weight files are
    100+ MB together, and hashing them at every start cost a few tenths of a second."""
    paths = [Path(path) for path in paths]
    stats = [path.stat() for path in paths]
    key = hashlib.sha256(
        repr([(str(p.resolve()), s.st_size, s.st_mtime_ns) for p, s in zip(paths, stats)] + list(extra)).encode()
    ).hexdigest()
    record = default_cache_dir() / "onnx" / "digests.json"
    with _digests_lock:
        try:
            known = json.loads(record.read_text())
        except (OSError, ValueError):
            known = {}
        known = known if isinstance(known, dict) else {}
        if isinstance(known.get(key), str):
            return known[key]
        digest = hashlib.sha256()
        for path in paths:
            with open(path, "rb") as handle:
                for block in iter(lambda handle=handle: handle.read(1 << 20), b""):
                    digest.update(block)
        for text in extra:
            digest.update(text.encode())
        known[key] = digest.hexdigest()[:16]
        with contextlib.suppress(OSError):  # a read-only cache only costs the hashing next time
            record.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=record.parent, suffix=".tmp", delete=False) as handle:
                json.dump(known, handle)
            os.replace(handle.name, record)
        return known[key]


_digests_lock = threading.Lock()


def _converter_version() -> str | None:
    """tf2onnx's version, read from its installed metadata (importing it would import TensorFlow); None when it
    is not installed."""
    try:
        return importlib.metadata.version("tf2onnx")
    except importlib.metadata.PackageNotFoundError:
        return None


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """Hold an exclusive file lock: processes that need the same conversion wait for the first one."""
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def converted_model(name: str, digest: str, convert: Callable[[], bytes]) -> Path:
    """The cached ONNX file for network ``name`` with weights ``digest``, converting it first if missing.

    Finding a prepared file imports neither TensorFlow nor the converter. Without the converter installed, a file
    prepared by any converter version is used. Written to a temporary file and renamed into place, so a killed
    conversion never leaves a half file."""
    folder = default_cache_dir() / "onnx"
    version = _converter_version()
    if version is None:
        prepared = sorted(folder.glob(f"{name}-{digest}-tf2onnx*-opset{OPSET}.onnx"))
        if prepared:
            return prepared[-1]
        raise ModelUnavailableError(
            f"the network '{name}' is not prepared on this machine, and preparing it (once) needs the converter: "
            "pip install 'faceprint[convert]' (then 'faceprint models prepare'), or copy the prepared files of "
            f"another machine into {folder}"
        )
    path = folder / f"{name}-{digest}-tf2onnx{version}-opset{OPSET}.onnx"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder / f"{name}.lock"):
        if path.is_file():  # another process converted it while we waited
            return path
        log.warning("preparing %s once for this machine (cached in %s)", name, folder)
        # One conversion at a time in this process too: building TensorFlow graphs (autograph parses and compiles
        # Python source) from two threads at once can fail inside CPython's compiler ("AST constructor recursion
        # depth mismatch"), and the models are loaded in parallel threads.
        with _conversion_lock:
            data = convert()
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{name}-", suffix=".tmp", delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, path)
    return path


_conversion_lock = threading.RLock()  # held around a whole conversion and, again, around the converter call


@contextlib.contextmanager
def _deterministic_names():
    """One conversion at a time, with tf2onnx's name counter reset: the names it gives the tensors it inserts
    come from a process-wide counter, and the shipped 8-bit ranges are keyed by tensor name, so a network must
    convert to the same names whatever was converted before it in the process."""
    from faceprint._tf import _stderr_silenced

    with _conversion_lock, _stderr_silenced():
        import tf2onnx.convert  # import everything first: importing may draw names from the counter too

        tf2onnx.utils.INTERNAL_NAME = 1
        yield tf2onnx


def tf_function_to_onnx(function, input_signature) -> bytes:
    """Serialised ONNX model of a ``tf.function`` whose weights are constants of its graph."""
    with _deterministic_names() as tf2onnx:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=input_signature, opset=OPSET)
    return proto.SerializeToString()


def graph_def_to_onnx(graph_def, inputs: list[str], outputs: list[str]) -> bytes:
    """Serialised ONNX model of a frozen TensorFlow ``GraphDef``."""
    with _deterministic_names() as tf2onnx:
        proto, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs, opset=OPSET)
    return proto.SerializeToString()


@cache
def _limit_malloc_arenas(arenas: int = 2) -> None:
    """Let glibc keep at most ``arenas`` malloc heaps unless ``MALLOC_ARENA_MAX`` says otherwise. By default every
    thread that allocates while others do gets its own heap (up to 8 per core) and memory freed there is seldom
    returned; the runtimes' and faceprint's worker threads then hold hundreds of MB they no longer use."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # -8 = M_ARENA_MAX


@cache
def _cpu_description() -> tuple[str, frozenset[str]]:
    """This CPU's model name and instruction-set flags (Linux; elsewhere the platform's processor name)."""
    name, flags = "", frozenset()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not name:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = frozenset(value.split())
    return name or platform.processor() or platform.machine(), flags


VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "avx_vnni_int8"})


@cache
def int8_kernels_saturate() -> bool:
    """Whether ONNX Runtime's fused 8-bit kernels lose precision here. On x86 CPUs without VNNI they multiply
    unsigned by signed bytes with AVX2's pairwise add, whose 16-bit sums saturate: FaceNet's 8-bit embeddings then
    drift far from float32's (cosine down to 0.77 on a group photo, against 0.9985 done right). There the quantised
    graphs run with their quantisation kept as float arithmetic (``session.disable_quant_qdq``): the same 8-bit
    network (cosine >= 0.9995 to its exact integer arithmetic), at about float32's speed."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return False
    return not (_cpu_description()[1] & VNNI_FLAGS)


@cache
def _machine_key() -> str:
    """ONNX Runtime's version, a digest of this CPU's model and instruction sets, and how 8-bit graphs run: an
    optimised graph is kept per key, since its layout transforms (NCHWc block sizes) and fused kernels suit only the
    CPU it was made on."""
    import onnxruntime

    name, flags = _cpu_description()
    cpu = hashlib.sha256(f"{name}|{' '.join(sorted(flags))}".encode()).hexdigest()[:12]
    int8 = "qdq-float" if int8_kernels_saturate() else "qdq-fused"
    return f"ort{onnxruntime.__version__}-{cpu}-{int8}"


def optimised_path(path: Path) -> Path:
    """Where the graph of ``path`` is kept once ONNX Runtime has optimised it for this machine."""
    return path.with_name(f"{path.stem}.optimised-{_machine_key()}.ort.onnx")


class OnnxNetwork:
    """One ONNX Runtime session on the CPU; ``run`` is safe to call from several threads at once.

    The first session of a file on a machine optimises its graph (fusions, layout) and saves the result beside it;
    later processes load that and skip the optimisation (FaceNet: ~0.35 -> ~0.15 s of CPU, dlib's ResNet ~0.13 ->
    ~0.03 s), with the same outputs."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads sleep instead of spinning. Spinning makes one network alone ~15% faster, but faceprint
        # runs detection scales and two embedding networks side by side on few cores, where spinning threads steal
        # the cores the others need: a 640x480 photo end to end took 266 ms spinning vs 164 ms not (2 cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No memory arena and no per-shape memory plans: MTCNN sees a new input shape at every pyramid scale of every
        # photo size, and both would keep the largest buffers ever needed for good (a server worker grew to ~750 MB
        # on group photos; ~510 MB without them and with fewer malloc arenas). Without an arena, every large tensor is
        # page-faulted in afresh, so callers keep their calls small (MTCNN cuts batches into slices, see
        # ``mtcnn_graph.CHUNK_PIXELS``; the embedders run at most 32 faces at a time).
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        options.log_severity_level = 3  # errors only: saving an NCHWc graph warns that it suits this machine alone
        if int8_kernels_saturate():  # no effect on float graphs
            options.add_session_config_entry("session.disable_quant_qdq", "1")
        _limit_malloc_arenas()
        self.session = self._open(onnxruntime, Path(path), options)
        self.input_name = self.session.get_inputs()[0].name

    @staticmethod
    def _open(onnxruntime, path: Path, options):
        optimised = optimised_path(path)
        if optimised.is_file():
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
            try:
                return onnxruntime.InferenceSession(str(optimised), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # damaged or from another build: optimise again from the source file
                log.warning("re-optimising %s (%s)", path.name, exc)
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        temporary = optimised.with_name(f".{optimised.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        saving = os.access(optimised.parent, os.W_OK)  # a read-only cache still runs, optimising at every start
        if saving:
            options.optimized_model_filepath = str(temporary)
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        if saving:
            with contextlib.suppress(OSError):
                os.replace(temporary, optimised)  # written whole, then renamed: no process sees half a file
            with contextlib.suppress(OSError):
                temporary.unlink()
        return session

    def run(self, inputs: np.ndarray) -> list[np.ndarray]:
        """Every output of the network for one input batch."""
        return self.session.run(None, {self.input_name: inputs})


_sessions: dict[tuple[Path, int | None], OnnxNetwork] = {}
_sessions_lock = threading.Lock()


def onnx_network(name: str, digest: str, convert: Callable[[], bytes], threads: int | None = None) -> OnnxNetwork:
    """The process-wide session of network ``name`` (converted and cached on first use)."""
    return shared_network(converted_model(name, digest, convert), threads)


def shared_network(path: Path, threads: int | None = None) -> OnnxNetwork:
    """The process-wide session of the ONNX file ``path`` with ``threads`` worker threads (None: one per core)."""
    with _sessions_lock:
        if (path, threads) not in _sessions:
            _sessions[path, threads] = OnnxNetwork(path, threads)
        return _sessions[path, threads]


def quantize_int8(model: Path, ranges: Path, reader=None) -> bytes:
    """Serialised 8-bit version of the ONNX ``model``: weights int8 per output channel, activations uint8 with the
    ranges in the calibration file ``ranges`` (ONNX Runtime's static QDQ quantisation, which uses VNNI/AVX-512
    integer instructions where the CPU has them). With a calibration ``reader`` the ranges are measured first and
    written to ``ranges``; without one they are read from it."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="faceprint-quantize-") as folder:
        prepared, quantized = Path(folder) / "prepared.onnx", Path(folder) / "quantized.onnx"
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            calibration_cache_path=str(ranges),
        )
        return quantized.read_bytes()
