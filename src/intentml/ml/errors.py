"""The one exception training raises for problems a user can fix."""

from __future__ import annotations


class TrainingFailed(Exception):
    """Training cannot produce a model; `code` is machine-readable, the message says why
    and what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
