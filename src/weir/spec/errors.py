"""Spec errors that name the file, the line, the field and the fix."""

from __future__ import annotations


class SpecError(ValueError):
    """A feature spec is invalid.

    ``str(err)`` reads ``<file>:<line>: <field>: <problem>`` so editors and CI logs can jump to it.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.problem = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file or "<spec>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.problem}"
        return f"{where}: {self.problem}"


class SpecErrors(SpecError):
    """Several spec errors at once; ``.errors`` lists them (the first one fills file/line/field)."""

    def __init__(self, errors: list[SpecError]) -> None:
        if not errors:
            raise ValueError("SpecErrors needs at least one error")
        self.errors = list(errors)
        first = self.errors[0]
        self.problem = first.problem
        self.file = first.file
        self.line = first.line
        self.field = first.field
        text = "\n".join(str(e) for e in self.errors)
        if len(self.errors) > 1:
            text = f"{len(self.errors)} spec errors:\n{text}"
        ValueError.__init__(self, text)


def raise_errors(errors: list[SpecError]) -> None:
    """Raise the one error found as itself, several as :class:`SpecErrors`; return when there is none."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise SpecErrors(errors)
