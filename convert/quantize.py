"""ONNX -> full-integer int8 TFLite (int8 input and output) with onnx2tf, calibrated on real samples.

onnx2tf runs as a subprocess in a temporary directory with proxies pointed at a dead port, so it
can never reach the network (its sample-data download for 3-channel inputs is never needed since we
always pass calibration data). Channel-first ONNX inputs (NCHW images, NCW signals) come out
channel-last (NHWC, NWC); calibration arrays are given channel-last, float32, as onnx2tf expects.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import BadInputError

log = logging.getLogger(__name__)


@dataclass
class OnnxIO:
    """Names and shapes of an ONNX model's inputs and outputs (as in the ONNX graph)."""

    inputs: list[tuple[str, list[int | str]]]
    outputs: list[tuple[str, list[int | str]]]


@dataclass
class QuantizeResult:
    tflite_path: Path
    float_tflite_path: Path | None
    input_layouts: list[str]
    output_layouts: list[str]
    seconds: float
    log_tail: str = ""
    entry: dict | None = field(default=None)


def onnx_io(onnx_path: str | Path) -> OnnxIO:
    """Read input/output names and shapes (dims as ints, symbolic ones as strings)."""
    import onnx

    try:
        m = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:
        raise BadInputError(
            "onnx_invalid",
            f"cannot read {onnx_path} as an ONNX model ({exc})",
            "export the model with torch.onnx.export(..., opset_version=17)",
        ) from None
    inits = {i.name for i in m.graph.initializer}

    def dims(vi) -> list[int | str]:
        return [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in vi.type.tensor_type.shape.dim
        ]

    ins = [(vi.name, dims(vi)) for vi in m.graph.input if vi.name not in inits]
    outs = [(vi.name, dims(vi)) for vi in m.graph.output]
    return OnnxIO(ins, outs)


def channel_last_layout(rank: int) -> str:
    """Layout name onnx2tf produces for a tensor of this rank."""
    return {4: "NHWC", 3: "NWC", 2: "NC", 5: "NDHWC"}.get(rank, f"rank{rank}")


def to_channel_last(shape: list[int | str]) -> list[int | str]:
    """NCHW -> NHWC, NCW -> NWC (what onnx2tf does to 3-D and 4-D tensors)."""
    if len(shape) >= 3:
        return [shape[0], *shape[2:], shape[1]]
    return list(shape)


def check_calibration(
    calib: np.ndarray, onnx_shape: list[int | str], input_name: str
) -> np.ndarray:
    """Validate a calibration array against the ONNX input (channel-first) and return it as float32
    channel-last; a channel-first array of the right shape is transposed for the user."""
    calib = np.asarray(calib)
    if calib.dtype.kind not in "fiu":
        raise BadInputError(
            "calib_dtype",
            f"calibration array has dtype {calib.dtype}",
            "save float32 samples with numpy.save",
        )
    calib = calib.astype(np.float32)
    want_cl = to_channel_last(onnx_shape)
    if calib.ndim != len(onnx_shape):
        raise BadInputError(
            "calib_shape",
            f"calibration array has shape {list(calib.shape)} but input "
            f"{input_name!r} is {len(onnx_shape)}-D {onnx_shape}",
            f"give samples stacked along axis 0, channel-last: {['N', *want_cl[1:]]}",
        )

    def matches(shape: list) -> bool:
        return all(
            not isinstance(w, int) or w <= 0 or w == s for w, s in zip(shape[1:], calib.shape[1:])
        )

    if calib.ndim >= 3 and not matches(want_cl) and matches(list(onnx_shape)):
        calib = np.moveaxis(calib, 1, -1).copy()
        log.info(
            "calibration array was channel-first; transposed to channel-last %s", list(calib.shape)
        )
    elif not matches(want_cl):
        raise BadInputError(
            "calib_shape",
            f"calibration array shape {list(calib.shape)} does not fit input "
            f"{input_name!r} {onnx_shape} (channel-last {want_cl})",
            "give float32 samples channel-last (NHWC for images, NWC for signals)",
        )
    if len(calib) < 1:
        raise BadInputError(
            "calib_empty", "calibration array has no samples", "give 20-200 real samples"
        )
    if not np.isfinite(calib).all():
        raise BadInputError(
            "calib_nan", "calibration array contains NaN or inf", "clean the samples"
        )
    return calib


def _offline_env() -> dict[str, str]:
    env = dict(os.environ)
    dead = "http://127.0.0.1:9"
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env[k] = dead
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def quantize(
    onnx_path: str | Path,
    calib: np.ndarray | str | Path,
    out_path: str | Path,
    *,
    per_tensor: bool = False,
    keep_float: bool = False,
    timeout_s: float = 1800,
) -> QuantizeResult:
    """Convert `onnx_path` to a full-integer int8 TFLite at `out_path` (int8 in/out).

    `calib` (array or .npy path) holds real samples, channel-last float32, for the (single) input.
    With `keep_float`, the float32 TFLite is also written next to it as `<out>.float32.tflite`.
    """
    onnx_path = Path(onnx_path)
    out_path = Path(out_path)
    if not onnx_path.is_file():
        raise BadInputError(
            "onnx_missing", f"ONNX model {onnx_path} does not exist", "check the path"
        )
    io = onnx_io(onnx_path)
    if len(io.inputs) != 1:
        raise BadInputError(
            "onnx_inputs",
            f"{onnx_path} has {len(io.inputs)} inputs; only 1 is supported",
            "export a single-input model",
        )
    in_name, in_shape = io.inputs[0]
    if isinstance(calib, (str, Path)):
        try:
            calib = np.load(str(calib), allow_pickle=False)
        except Exception as exc:
            raise BadInputError(
                "calib_unreadable",
                f"cannot read calibration file {calib} ({exc})",
                "save samples with numpy.save(path, float32_array)",
            ) from None
    calib = check_calibration(calib, in_shape, in_name)
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="ecg-quantize-") as tmp:
        tmpd = Path(tmp)
        shutil.copy(onnx_path, tmpd / "model.onnx")
        np.save(tmpd / "calib.npy", calib)
        # onnx2tf loads this file from its cwd instead of downloading it (it wants it for any
        # 3-channel image input, even with our calibration data): make it from our samples.
        np.save(tmpd / SAMPLE_DATA_NAME, _sample_image_data(calib))
        zeros = "[" * calib.ndim + ",".join(["0.0"] * calib.shape[-1]) + "]" * calib.ndim
        ones = "[" * calib.ndim + ",".join(["1.0"] * calib.shape[-1]) + "]" * calib.ndim
        cmd = [
            sys.executable,
            "-m",
            "onnx2tf",
            "-i",
            "model.onnx",
            "-o",
            "out",
            "-oiqt",
            "-qt",
            "per-tensor" if per_tensor else "per-channel",
            "-cind",
            in_name,
            "calib.npy",
            zeros,
            ones,
            "-iqd",
            "int8",
            "-oqd",
            "int8",
            "-n",
        ]
        log.info("running onnx2tf (%d calibration samples)", len(calib))
        proc = _run_until_int8(cmd, tmpd, timeout_s)
        out_text = (proc.stdout or "") + (proc.stderr or "")
        tail = "\n".join(out_text.strip().splitlines()[-25:])
        produced = sorted((tmpd / "out").glob("*_full_integer_quant.tflite"))
        if proc.returncode != 0 or not produced:
            err = [ln for ln in out_text.splitlines() if "Error" in ln or "error" in ln]
            raise BadInputError(
                "onnx2tf_failed",
                f"onnx2tf could not convert {onnx_path.name} "
                f"({(err[-1] if err else 'exit ' + str(proc.returncode)).strip()[:200]})",
                "check the model uses standard ops (opset 17) and static shapes; run with -v for the log",
            )
        out_path.parent.mkdir(parents=True, exist_ok=True)
        _copy_atomic(produced[0], out_path)
        float_out = None
        f32 = sorted((tmpd / "out").glob("*_float32.tflite"))
        if keep_float and f32:
            float_out = out_path.with_name(out_path.stem + ".float32.tflite")
            _copy_atomic(f32[0], float_out)
    seconds = time.time() - start
    return QuantizeResult(
        tflite_path=out_path,
        float_tflite_path=float_out,
        input_layouts=[channel_last_layout(len(s)) for _, s in io.inputs],
        output_layouts=[channel_last_layout(len(s)) for _, s in io.outputs],
        seconds=seconds,
        log_tail=tail,
    )


SAMPLE_DATA_NAME = "calibration_image_sample_data_20x128x128x3_float32.npy"


def _sample_image_data(calib: np.ndarray) -> np.ndarray:
    """20x128x128x3 float32 test images for onnx2tf's self-check, taken from the calibration set."""
    import cv2

    if calib.ndim == 4 and calib.shape[-1] == 3:
        idx = np.arange(20) % len(calib)
        return np.stack(
            [cv2.resize(calib[i], (128, 128), interpolation=cv2.INTER_AREA) for i in idx]
        ).astype(np.float32)
    return np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32)


def _run_until_int8(cmd: list[str], cwd: Path, timeout_s: float) -> subprocess.CompletedProcess:
    """Run onnx2tf, stopping it once the full-integer model is written and loads: it would go on to
    calibrate int16-activation variants we do not use (as long again)."""
    from edge.errors import ModelError
    from edge.models import TFLiteModel

    logf = open(cwd / "onnx2tf.log", "w+")
    p = subprocess.Popen(
        cmd, cwd=cwd, env=_offline_env(), stdout=logf, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + timeout_s
    last_size = -1
    stopped_early = False
    try:
        while p.poll() is None:
            if time.time() > deadline:
                p.kill()
                p.wait()
                raise BadInputError(
                    "onnx2tf_timeout",
                    f"onnx2tf did not finish in {timeout_s:.0f} s",
                    "simplify the model or use fewer calibration samples",
                )
            time.sleep(0.5)
            done = sorted((cwd / "out").glob("*_full_integer_quant.tflite"))
            if not done:
                continue
            size = done[0].stat().st_size
            if size != last_size:
                last_size = size
                continue
            try:
                TFLiteModel(done[0], num_threads=1)
            except ModelError:
                continue
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            stopped_early = True
        logf.seek(0)
        text = logf.read()
    finally:
        logf.close()
    return subprocess.CompletedProcess(cmd, 0 if stopped_early else p.returncode, text, "")


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp")
    with open(src, "rb") as fi, open(tmp, "wb") as fo:
        shutil.copyfileobj(fi, fo)
        fo.flush()
        os.fsync(fo.fileno())
    os.replace(tmp, dst)
