"""What C libraries print straight to file descriptor 2 (libjpeg's "Corrupt JPEG data: premature
end of data segment", libpng warnings, LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate"),
collected instead of printed: such lines are either evidence about an input (a truncated JPEG)
or noise, and must not add lines to the one line per file a user reads.

Lines that do not start with one of the given prefixes (a Python log message written meanwhile,
a message nobody expected) are written to fd 2 afterwards, so nothing is lost."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

MAX_COLLECTED_BYTES = 256 * 1024  # more than any decoder or runtime writes for one call


@contextmanager
def collect_native_stderr(prefixes: tuple[str, ...]) -> Iterator[list[str]]:
    """Redirect fd 2 to a temporary file for the block; the list holds, afterwards, the lines
    that started with one of `prefixes`; every other line is passed on to fd 2."""
    lines: list[str] = []
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (a service without stderr): nothing to collect
        yield lines
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read(MAX_COLLECTED_BYTES).decode("utf-8", "replace")
            others: list[str] = []
            for line in text.splitlines():
                (lines if line.startswith(prefixes) else others).append(line)
            if others:
                try:
                    os.write(2, ("\n".join(others) + "\n").encode())
                except OSError:
                    pass
