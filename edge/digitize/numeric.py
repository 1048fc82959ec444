"""Numerics whose results must not depend on the numpy version the device happens to have."""

from __future__ import annotations

from typing import Any

import numpy as np


def percentile(x: np.ndarray, q: float, axis: int | None = None) -> Any:
    """np.percentile computed in float64 whatever the input's dtype. numpy 1.x computes the
    percentile of a float32 array in float64 and returns float64; numpy 2 (NEP 50) keeps float32,
    so its rounding differs and thresholds downstream can flip. Computing in float64 gives the
    same result under both (the array is copied, so the caller's is never reordered). A float64
    scalar without `axis`, an array with it."""
    return np.percentile(np.array(x, dtype=np.float64), q, axis=axis, overwrite_input=True)
