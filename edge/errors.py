"""Errors that reach a user: each carries a short code, a message naming the problem and a hint
saying what to do, so the CLI, the logs and the device screen all show the same actionable text."""

from __future__ import annotations


class EcgEdgeError(Exception):
    """Base for user-facing failures. `exit_code` is what the CLI returns (2 = bad input)."""

    exit_code = 1

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class BadInputError(EcgEdgeError):
    """The input file or image cannot be used (unreadable, not an ECG, too blurry, cut off...)."""

    exit_code = 2


class ModelError(EcgEdgeError):
    """A model file is missing, corrupt, has the wrong sha256 or the wrong shape."""

    exit_code = 3
