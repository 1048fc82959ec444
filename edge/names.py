"""Names the project makes for its output files and WFDB records, from whatever an input file
is called.

A WFDB record name may hold only ASCII letters, digits, `_` and `-` (and its files must fit a
file system's 255-byte names), while photos arrive as `scan 2024.jpg`, `WhatsApp Image
2024-03-01 at 10.15.32.jpeg`, `ЭКГ (1).jpg` or worse. The stem made here keeps what it can of
the name, and adds a short hash of the original name whenever it had to change it, so that two
different names never map to the same stem; the original name goes into the JSON report."""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_STEM_CHARS = 60  # + "-" + hash + ".overlay.png" stays far below 255 bytes
HASH_CHARS = 8  # 32 bits: a collision between two names of one batch is ~1 in 4 billion
FALLBACK_STEM = "image"  # a name with nothing usable in it (all symbols, all non-Latin)
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def short_hash(text: str) -> str:
    """First HASH_CHARS hex digits of the sha256 of `text` (undecodable bytes kept as they were)."""
    raw = text.encode("utf-8", "surrogateescape")
    return hashlib.sha256(raw).hexdigest()[:HASH_CHARS]


def _clean_stem(file_name: str) -> tuple[str, str]:
    """(the file name without its directory, its WFDB-safe stem: may be "")."""
    base = file_name.rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    ascii_ = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    clean = re.sub(r"_{2,}", "_", _UNSAFE.sub("_", ascii_)).strip("_-")
    return base, clean[:MAX_STEM_CHARS].rstrip("_-")


def safe_stem(file_name: str, *, unique_by: str | None = None) -> str:
    """A WFDB-safe stem for an input file name (its last extension dropped): ASCII letters,
    digits, `_` and `-`, no leading `-` or `_`, at most MAX_STEM_CHARS + 1 + HASH_CHARS long.
    Unchanged when the stem was already safe, else `-<hash of the name>` is appended;
    `unique_by` (another name, a full path) forces a hash of that instead."""
    base, clean = _clean_stem(file_name)
    if unique_by is None and clean and clean == base.rsplit(".", 1)[0]:
        return clean
    return f"{clean or FALLBACK_STEM}-{short_hash(base if unique_by is None else unique_by)}"


def display_name(text: str) -> str:
    """`text` on one printable line: control characters and undecodable bytes escaped."""
    raw = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in raw
    )
