"""Model runtime on the device: read `models/manifest.json`, verify a model file's sha256 before
loading it, and run it with the TFLite interpreter (ai-edge-litert, else tflite_runtime).

`TFLiteModel.run(x_float)` hides int8 quantization: it quantizes the float input with the input
tensor's scale/zero-point and returns the dequantized float output, so callers never see int8.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from edge.checksum import sha256_file
from edge.errors import ModelError

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
SCHEMA = 1


# ---------------------------------------------------------------------------------------------
# manifest


@dataclass
class TensorSpec:
    """One input or output tensor as recorded in the manifest (shape after conversion)."""

    name: str
    shape: list[int]
    dtype: str
    layout: str = ""
    scale: float | None = None
    zero_point: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TensorSpec":
        q = d.get("quantization") or {}
        return cls(
            name=str(d.get("name", "")),
            shape=[int(s) for s in d.get("shape", [])],
            dtype=str(d.get("dtype", "")),
            layout=str(d.get("layout", "")),
            scale=None if q.get("scale") is None else float(q["scale"]),
            zero_point=None if q.get("zero_point") is None else int(q["zero_point"]),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "layout": self.layout,
        }
        d["quantization"] = (
            {"scale": self.scale, "zero_point": self.zero_point} if self.scale is not None else None
        )
        return d


@dataclass
class ModelEntry:
    """One model of the manifest; `raw` keeps every field (labels, thresholds, metrics...)."""

    name: str
    file: str
    sha256: str
    size_bytes: int | None
    task: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return list(self.raw.get("labels") or [])

    @property
    def thresholds(self) -> Any:
        return self.raw.get("thresholds")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelEntry":
        for key in ("name", "file", "sha256"):
            if not d.get(key):
                raise ModelError(
                    "manifest_invalid",
                    f"model manifest entry without {key!r}",
                    "re-install the models (ecg-edge update-models) or fix models/manifest.json",
                )
        size = d.get("size_bytes")
        return cls(
            name=str(d["name"]),
            file=str(d["file"]),
            sha256=str(d["sha256"]).lower(),
            size_bytes=None if size is None else int(size),
            task=str(d.get("task", "")),
            inputs=[TensorSpec.from_dict(t) for t in d.get("inputs", [])],
            outputs=[TensorSpec.from_dict(t) for t in d.get("outputs", [])],
            raw=dict(d),
        )


def update_slot() -> Path:
    """The signed-update slot `<models root>/current` that `ecg-edge update-models` swaps
    (`$ECG_EDGE_MODELS_ROOT`, else /var/lib/ecg-edge/models, as the provisioning script sets up)."""
    from edge.bundle import DEFAULT_MODELS_ROOT

    return Path(os.environ.get("ECG_EDGE_MODELS_ROOT") or DEFAULT_MODELS_ROOT) / "current"


def default_models_dir() -> Path:
    """Where the models are read from, first match wins:
    1. `$ECG_EDGE_MODELS` (the service's environment file sets it to the update slot);
    2. the update slot (`update_slot()`) when it holds a manifest this user can read, so that a
       shell on a provisioned box reads the models the service reads;
    3. the shipped models: `models/` of a source checkout, else the copy inside the installed
       package (`edge.resources`)."""
    env = os.environ.get("ECG_EDGE_MODELS")
    if env:
        return Path(env)
    slot = update_slot()
    if (slot / MANIFEST_NAME).is_file() and os.access(slot / MANIFEST_NAME, os.R_OK):
        return slot
    from edge.resources import shipped_dir

    return shipped_dir("models", marker=MANIFEST_NAME)


def read_manifest(models_dir: str | Path | None = None) -> list[ModelEntry]:
    """All entries of `<models_dir>/manifest.json` (ModelError if missing or malformed)."""
    mdir = Path(models_dir) if models_dir is not None else default_models_dir()
    path = mdir / MANIFEST_NAME
    if not path.is_file():
        raise ModelError(
            "manifest_missing",
            f"no model manifest at {path}",
            "reinstall ecg-edge (its wheel carries the models), install a model bundle "
            "(ecg-edge update-models) or set ECG_EDGE_MODELS to the models directory",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(
            "manifest_invalid",
            f"model manifest {path} is not valid JSON ({exc})",
            "re-install the models (ecg-edge update-models)",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ModelError(
            "manifest_invalid",
            f"model manifest {path} has no 'models' list",
            "re-install the models (ecg-edge update-models)",
        )
    return [ModelEntry.from_dict(d) for d in data["models"]]


def find_entry(name: str, models_dir: str | Path | None = None) -> ModelEntry:
    """The manifest entry called `name` (ModelError naming the installed models if absent)."""
    entries = read_manifest(models_dir)
    for e in entries:
        if e.name == name:
            return e
    have = ", ".join(e.name for e in entries) or "none"
    raise ModelError(
        "model_unknown",
        f"model {name!r} is not in the manifest (installed: {have})",
        "install it (ecg-edge update-models) or choose an installed model",
    )


def verify_entry(entry: ModelEntry, models_dir: str | Path | None = None) -> Path:
    """Check the entry's file exists, has the recorded size and sha256; return its path."""
    mdir = Path(models_dir) if models_dir is not None else default_models_dir()
    path = mdir / entry.file
    hint = "re-install the models (ecg-edge update-models); do not edit model files by hand"
    if not path.is_file():
        raise ModelError("model_missing", f"model file {path} of {entry.name!r} is missing", hint)
    size = path.stat().st_size
    if entry.size_bytes is not None and size != entry.size_bytes:
        what = "truncated" if size < entry.size_bytes else "larger than recorded"
        raise ModelError(
            "model_size",
            f"model file {path} is {what} ({size} bytes, manifest says {entry.size_bytes})",
            hint,
        )
    digest = sha256_file(path)
    if digest != entry.sha256:
        raise ModelError(
            "model_sha256",
            f"model file {path} fails its sha256 check "
            f"(got {digest[:12]}..., manifest says {entry.sha256[:12]}...)",
            hint,
        )
    return path


def read_json_model(path: str | Path) -> dict[str, Any]:
    """The parameters of a JSON model file (a feature model) whose sha256 is already verified;
    ModelError unless it parses as a JSON object."""
    try:
        params = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(
            "feature_model",
            f"feature model {path} is unreadable ({exc})",
            "re-install the models (ecg-edge update-models)",
        ) from None
    if not isinstance(params, dict):
        raise ModelError(
            "feature_model",
            f"feature model {path} is not a JSON object",
            "re-install the models (ecg-edge update-models)",
        )
    return params


def unusable_models(names: Iterable[str], models_dir: str | Path | None = None) -> dict[str, str]:
    """Why each of `names` cannot be used, by name (empty when all can): no manifest, not in it,
    file missing, wrong size or sha256, or no TFLite interpreter for a .tflite model. No model is
    loaded, so a command can check this cheaply before it reads on without a model."""
    names = list(names)
    try:
        entries = {e.name: e for e in read_manifest(models_dir)}
    except ModelError as exc:
        return dict.fromkeys(names, exc.message)
    problems: dict[str, str] = {}
    for name in names:
        try:
            if name not in entries:
                raise ModelError("model_unknown", f"model {name!r} is not in the manifest")
            verify_entry(entries[name], models_dir)
            if entries[name].file.endswith(".tflite"):
                _interpreter_class()
        except ModelError as exc:
            problems[name] = exc.message
    return problems


# ---------------------------------------------------------------------------------------------
# interpreter


def _interpreter_class():
    """`ai_edge_litert`'s Interpreter, else `tflite_runtime`'s (ModelError if neither is installed)."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found,unused-ignore]

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found,unused-ignore]

        return Interpreter
    except ImportError:
        raise ModelError(
            "runtime_missing",
            "no TFLite interpreter is installed",
            "pip install ai-edge-litert (or tflite-runtime on boards without it)",
        ) from None


def default_threads() -> int:
    """Interpreter threads: `$ECG_EDGE_THREADS`, else the CPU count capped at 4."""
    env = os.environ.get("ECG_EDGE_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class _Quant:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int


def _quant(detail: dict[str, Any]) -> _Quant:
    scale, zp = detail.get("quantization", (0.0, 0))
    return _Quant(
        index=int(detail["index"]),
        name=str(detail["name"]),
        shape=tuple(int(s) for s in detail["shape"]),
        dtype=np.dtype(detail["dtype"]),
        scale=float(scale),
        zero_point=int(zp),
    )


class TFLiteModel:
    """A loaded TFLite model; `run` takes and returns float arrays whatever the model's I/O dtype."""

    def __init__(
        self, path: str | Path, *, entry: ModelEntry | None = None, num_threads: int | None = None
    ) -> None:
        self.path = Path(path)
        self.entry = entry
        self.name = entry.name if entry else self.path.stem
        Interpreter = _interpreter_class()
        threads = num_threads or default_threads()
        try:
            content = self.path.read_bytes()
        except OSError as exc:
            raise ModelError(
                "model_unreadable",
                f"cannot read model file {self.path} ({exc.strerror})",
                "check the file exists and is readable",
            ) from None
        if len(content) < 16 or content[4:8] != b"TFL3":
            raise ModelError(
                "model_corrupt",
                f"{self.path} is not a TFLite model (no TFL3 header)",
                "re-install the model or convert it again with ecg-convert quantize",
            )
        try:
            self._interp = Interpreter(model_content=content, num_threads=threads)
            self._interp.allocate_tensors()
        except Exception as exc:  # the runtimes raise ValueError/RuntimeError with C++ text
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                "model_corrupt",
                f"cannot load {self.path} as a TFLite model ({msg[:160]})",
                "re-install the model or convert it again with ecg-convert quantize",
            ) from None
        self.num_threads = threads
        self._refresh()
        if entry is not None:
            self._check_against_manifest(entry)

    def _refresh(self) -> None:
        self.inputs = [_quant(d) for d in self._interp.get_input_details()]
        self.outputs = [_quant(d) for d in self._interp.get_output_details()]

    def _check_against_manifest(self, entry: ModelEntry) -> None:
        if entry.inputs and len(entry.inputs) == len(self.inputs):
            for spec, q in zip(entry.inputs, self.inputs):
                if spec.shape and list(spec.shape[1:]) != list(q.shape[1:]):
                    raise ModelError(
                        "manifest_mismatch",
                        f"model {self.name!r} input shape {list(q.shape)} differs from the "
                        f"manifest's {spec.shape}",
                        "re-install the models (ecg-edge update-models)",
                    )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.inputs[0].shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.outputs[0].shape

    @property
    def is_quantized(self) -> bool:
        return self.inputs[0].dtype in (np.dtype(np.int8), np.dtype(np.uint8))

    def quantize_input(self, x: np.ndarray, i: int = 0) -> np.ndarray:
        """Float -> the input tensor's dtype using its scale/zero-point (identity for float models)."""
        q = self.inputs[i]
        if q.dtype.kind == "f":
            return np.asarray(x, dtype=q.dtype)
        if q.scale == 0:
            return np.asarray(x).astype(q.dtype)
        info = np.iinfo(q.dtype)
        v = np.round(np.asarray(x, dtype=np.float32) / np.float32(q.scale)) + q.zero_point
        return np.clip(v, info.min, info.max).astype(q.dtype)

    def dequantize_output(self, y: np.ndarray, i: int = 0) -> np.ndarray:
        q = self.outputs[i]
        if q.dtype.kind == "f" or q.scale == 0:
            return np.asarray(y, dtype=np.float32)
        return (y.astype(np.float32) - np.float32(q.zero_point)) * np.float32(q.scale)

    def _ensure_batch(self, shape: tuple[int, ...]) -> None:
        want = self.inputs[0].shape
        if tuple(shape) == tuple(want):
            return
        if len(shape) != len(want) or tuple(shape[1:]) != tuple(want[1:]):
            raise ModelError(
                "input_shape",
                f"model {self.name!r} expects input shape {list(want)} "
                f"(batch may vary), got {list(shape)}",
                "feed inputs in the layout and size recorded in the manifest",
            )
        try:
            self._interp.resize_tensor_input(self.inputs[0].index, list(shape), strict=False)
            self._interp.allocate_tensors()
        except Exception as exc:
            raise ModelError(
                "input_shape",
                f"model {self.name!r} cannot take batch {shape[0]} ({exc})",
                "run one sample at a time",
            ) from None
        self._refresh()

    def run(self, x: np.ndarray, *, all_outputs: bool = False) -> np.ndarray | list[np.ndarray]:
        """Run on float input `x` (shape as `input_shape`, any batch); return float output(s)."""
        x = np.asarray(x)
        if x.ndim != len(self.inputs[0].shape):
            raise ModelError(
                "input_shape",
                f"model {self.name!r} expects a {len(self.inputs[0].shape)}-D "
                f"input {list(self.inputs[0].shape)}, got shape {list(x.shape)}",
                "feed inputs in the layout and size recorded in the manifest",
            )
        self._ensure_batch(tuple(x.shape))
        self._interp.set_tensor(self.inputs[0].index, self.quantize_input(x))
        self._interp.invoke()
        outs = [
            self.dequantize_output(self._interp.get_tensor(o.index), i)
            for i, o in enumerate(self.outputs)
        ]
        return outs if all_outputs else outs[0]


def load_tflite(
    path: str | Path, *, sha256: str | None = None, num_threads: int | None = None
) -> TFLiteModel:
    """Load a `.tflite` file directly (workstation checks); verifies `sha256` first when given."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("model_missing", f"model file {path} does not exist", "check the path")
    if sha256 is not None and sha256_file(path) != sha256.lower():
        raise ModelError(
            "model_sha256",
            f"model file {path} fails its sha256 check",
            "re-install or re-convert the model",
        )
    return TFLiteModel(path, num_threads=num_threads)


def load_model(
    name: str, models_dir: str | Path | None = None, *, num_threads: int | None = None
) -> TFLiteModel:
    """Load the manifest model `name`, refusing it unless its size and sha256 match the manifest."""
    entry = find_entry(name, models_dir)
    path = verify_entry(entry, models_dir)
    log.debug("loading model %s from %s", name, path)
    return TFLiteModel(path, entry=entry, num_threads=num_threads)
