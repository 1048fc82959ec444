"""Output names made from any input name (edge.names, `ecg-edge digitize`'s output_stem): each is
a WFDB record name that reads back, two inputs never share one, the same input keeps its own."""

import json
import re

import numpy as np
import pytest
import wfdb

from edge.commands.digitize import output_stem
from edge.names import HASH_CHARS, MAX_STEM_CHARS, display_name, safe_stem
from edge.wfdb_io import read_record, write_record

ODD_NAMES = [
    "scan 2024.jpg",
    "ECG (1).jpg",
    "a;rm -rf x.jpg",
    "ЭКГ пациента.jpg",
    "Électrocardiogramme.jpg",
    "scan\n2024.jpg",
    "WhatsApp Image 2024-03-01 at 10.15.32.jpeg",
    "x" * 247 + ".jpg",  # 251 characters
    "#12.jpg",
    "$(reboot).jpg",
    "-dash.jpg",
    ".hidden.jpg",
    "___.png",
    "tab\there.png",
    "bad\udcffbyte.jpg",  # an undecodable byte in a Linux file name
]
WFDB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_name_gives_a_record_that_reads_back(tmp_path, name):
    stem = safe_stem(name)
    assert WFDB_NAME.match(stem) and len(stem) <= MAX_STEM_CHARS + 1 + HASH_CHARS
    sig = np.zeros((500, 12))
    sig[:, 1] = np.sin(np.arange(500) / 20)
    write_record(tmp_path / stem, sig, 500.0, comments=[f"digitized from {json.dumps(name)}"])
    rec = wfdb.rdrecord(str(tmp_path / stem))
    assert rec.record_name == stem and rec.sig_len == 500
    assert read_record(tmp_path / stem).signals.shape == (500, 12)
    assert len(f"{stem}.overlay.png".encode()) < 255


def test_safe_names_are_kept_and_changed_names_stay_distinct():
    assert safe_stem("page.png") == "page" and safe_stem("0042_scan-B.jpg") == "0042_scan-B"
    stems = [safe_stem(n) for n in ODD_NAMES]
    assert len(set(stems)) == len(stems)
    # names that clean to the same text still differ by their hash
    assert safe_stem("scan 2024.jpg") != safe_stem("scan_2024 .jpg") != safe_stem("scan_2024.jpg")


def test_display_name_is_one_printable_line():
    for name in ODD_NAMES:
        shown = display_name(name)
        assert "\n" not in shown and shown.isprintable()
        assert shown.encode("utf-8")  # no lone surrogates left to fail a print


def test_two_inputs_with_one_stem_never_share_outputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    inputs = [tmp_path / "a.jpg", tmp_path / "a.png", tmp_path / "d1/a.jpg", tmp_path / "d2/a.jpg"]
    taken: set[str] = set()
    stems = [output_stem(p, out, taken) for p in inputs]
    assert stems[0].name == "a" and len({s.name for s in stems}) == 4
    # the next run: a.jpg's outputs exist (its JSON names it), so it gets "a" back, while
    # a.png, new in this run, does not overwrite them
    (out / "a.hea").write_text("")
    (out / "a.json").write_text(json.dumps({"source_path": str(inputs[0])}))
    assert output_stem(inputs[0], out, set()) == stems[0]
    assert output_stem(inputs[1], out, set()) == stems[1] != stems[0]
    (out / "x.hea").write_text("")  # outputs of unknown origin are not overwritten either
    assert output_stem(tmp_path / "x.png", out, set()).name != "x"
