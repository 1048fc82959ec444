"""The digitizer's result: signals plus everything a person or a later stage needs to trust them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np


@dataclass
class DigitizeResult:
    signals: np.ndarray  # (n, 12) float32 mV, NaN where the page does not show the lead
    fs: float
    lead_names: list[str]
    layout: str
    px_per_mm: dict  # {"x", "y"}: about, in the input image (grid); "work": rectified page
    speed_mm_s: float
    gain_mm_mv: float
    lead_confidence: dict[str, float]
    confidence: float
    warnings: list[str]
    timings: dict[str, float]
    rectified: np.ndarray | None = None
    overlay: np.ndarray | None = None
    details: dict = field(default_factory=dict)
    # The reading's SNR estimated from the limb-lead laws (edge.interpret.consistency), dB to one
    # decimal; None where the page does not show the leads the laws need.
    estimated_snr_db: float | None = None

    def to_json(self) -> str:
        """The summary as indented JSON text (what `ecg-edge digitize` writes to <stem>.json)."""
        return json.dumps(self.to_dict(), indent=2)

    def to_dict(self) -> dict:
        """JSON-serialisable summary (no arrays): what was found, how sure, how long it took."""
        shown = {
            n: float(np.isfinite(self.signals[:, j]).mean()) for j, n in enumerate(self.lead_names)
        }
        return {
            "layout": self.layout,
            "fs": self.fs,
            "n_samples": int(self.signals.shape[0]),
            "lead_names": list(self.lead_names),
            "px_per_mm": self.px_per_mm,
            "speed_mm_s": self.speed_mm_s,
            "gain_mm_mv": self.gain_mm_mv,
            "lead_confidence": {k: round(float(v), 3) for k, v in self.lead_confidence.items()},
            "lead_fraction_shown": {k: round(v, 3) for k, v in shown.items()},
            "confidence": round(float(self.confidence), 3),
            "warnings": list(self.warnings),
            "timings_s": {k: round(float(v), 4) for k, v in self.timings.items()},
            **self.details,
        }
