"""Why a file cannot be imported, in words the person who uploaded it can act on."""

from __future__ import annotations


class ImportProblem(Exception):
    """The whole file is refused. ``errors``: [{row, column, message}] pointing at the place, when there is one."""

    def __init__(self, message: str, *, errors: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []
