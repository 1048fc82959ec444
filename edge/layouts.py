"""Standard printed ECG page layouts: which lead sits in which row/column and for how long.

Shared by the synthesizer (to draw pages) and the digitizer (to name what it finds), so both
agree on lead order. Times are fractions of the printed width: in a 3x4 page at 25 mm/s each
column shows 2.5 s, and column c shows the same time window for all of its leads.
"""

from __future__ import annotations

from dataclasses import dataclass

LEAD_NAMES: tuple[str, ...] = (
    "I",
    "II",
    "III",
    "aVR",
    "aVL",
    "aVF",
    "V1",
    "V2",
    "V3",
    "V4",
    "V5",
    "V6",
)

_ALIASES = {n.upper(): n for n in LEAD_NAMES}
_ALIASES.update({"AVR": "aVR", "AVL": "aVL", "AVF": "aVF", "-AVR": "aVR"})


def canonical_lead(name: str) -> str | None:
    """Map a lead name as found in files ('AVR', 'avl', ' v1 ') to its canonical form, or None."""
    return _ALIASES.get(name.strip().upper().replace("LEAD", "").strip())


@dataclass(frozen=True)
class Layout:
    """A page layout: `rows` of segment columns (lead names, left to right) then `rhythm` strips
    (one lead each, printed over the full width)."""

    name: str
    rows: tuple[tuple[str, ...], ...]
    rhythm: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return len(self.rows) + len(self.rhythm)

    @property
    def n_cols(self) -> int:
        return len(self.rows[0])

    def all_rows(self) -> list[tuple[str, ...]]:
        """Every printed row, rhythm strips included (a rhythm row has a single lead)."""
        return [*self.rows, *((r,) for r in self.rhythm)]


LAYOUTS: dict[str, Layout] = {
    "3x4": Layout(
        "3x4", (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
    ),
    "3x4+1": Layout(
        "3x4+1",
        (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")),
        ("II",),
    ),
    "3x4+3": Layout(
        "3x4+3",
        (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")),
        ("V1", "II", "V5"),
    ),
    "6x2": Layout(
        "6x2",
        (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"), ("aVF", "V6")),
    ),
    "12x1": Layout("12x1", tuple((n,) for n in LEAD_NAMES)),
}


def get_layout(name: str) -> Layout:
    """Return the named layout or raise ValueError listing the known ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}") from None
