"""Interpretation of a 12-lead recording. The entry point is `interpret` (measurements,
statements, the int8 classifier's probabilities and a plain-language summary, in
`.interpretation`); the modules below it are the signal processing it builds on (validation,
R peaks, median-beat delineation, measurements, statements, limb-lead consistency)."""

from .interpretation import CLASSES, MIN_CONFIDENCE, Interpretation, interpret
from .measure import Measurements, measure
from .signals import Prepared, validate
from .statements import Statement, statements

__all__ = [
    "CLASSES",
    "MIN_CONFIDENCE",
    "Interpretation",
    "Measurements",
    "Prepared",
    "Statement",
    "interpret",
    "measure",
    "statements",
    "validate",
]
