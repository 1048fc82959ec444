"""Confidence: how far a reading can be trusted, per lead (how much of it the page shows, how
much of it was read from ink, how clear the grid was) and overall; and a truth-free check that
holds for any printer or camera: leads printed side by side must obey Einthoven's and
Goldberger's laws (edge.interpret.consistency), whose residual estimates the reading's SNR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..interpret.consistency import MIN_READING_SNR_DB, estimated_snr_db, relation_residuals
from ..layouts import LEAD_NAMES
from .assemble import Leads

LOW_CONFIDENCE = 0.4  # below this overall confidence the user is told to check the overlay
GRID_WEIGHT = 0.4  # share of a lead's confidence that depends on the grid's clarity
LAYOUT_WEIGHT = 0.3  # share of the overall confidence that depends on the layout's
DEFAULT_GAIN_FACTOR = 0.8  # an assumed (not read) gain lowers the confidence this much


@dataclass
class Confidence:
    per_lead: dict[str, float]
    overall: float
    estimated_snr_db: float | None  # from the limb-lead laws; None where they cannot be checked


def lead_confidence(leads: Leads, grid_confidence: float) -> dict[str, float]:
    """Per lead: coverage of where the layout prints it x ink fraction x grid clarity."""
    out = {}
    for j, name in enumerate(LEAD_NAMES):
        e = leads.expected[:, j]
        cov = float(np.isfinite(leads.signals[e, j]).mean()) if e.any() else 0.0
        ink = float(np.mean(leads.lead_ink[name])) if leads.lead_ink[name] else 0.0
        g = (1.0 - GRID_WEIGHT) + GRID_WEIGHT * grid_confidence
        out[name] = round(min(1.0, cov) * ink * g, 3)
    return out


def confidence(
    leads: Leads, grid_confidence: float, gain_source: str, fs: float, warnings: list[str]
) -> Confidence:
    """The reading's confidence and estimated SNR, with a warning where either is low."""
    per_lead = lead_confidence(leads, grid_confidence)
    conf = float(np.mean(list(per_lead.values()))) * (
        (1.0 - LAYOUT_WEIGHT) + LAYOUT_WEIGHT * leads.layout_confidence
    )
    if gain_source == "default":
        conf *= DEFAULT_GAIN_FACTOR
    if conf < LOW_CONFIDENCE:
        warnings.append("low confidence: check the overlay before using this record")
    est_snr = estimated_snr_db(relation_residuals(leads.signals, float(fs)))
    if est_snr is not None and est_snr < MIN_READING_SNR_DB:
        warnings.append(
            f"the limb leads disagree (estimated reading SNR {est_snr:.1f} dB): the traces were "
            "probably misread; check the overlay or retake the photo"
        )
    return Confidence(per_lead, conf, est_snr)
