"""Signal-processing interpretation (no model): validation, R peaks, median-beat delineation,
measurements and statements. `edge.classify.interpret` adds the classifier on top."""

from .measure import Measurements, measure
from .signals import Prepared, validate
from .statements import Statement, statements

__all__ = ["Measurements", "Prepared", "Statement", "measure", "statements", "validate"]
