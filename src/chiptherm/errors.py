"""The one exception family of chiptherm.

Every error that a user can cause (a bad input file, a wrong argument, a solver that
does not converge) is raised as a subclass of :class:`ChipthermError`. Its message names
the file, the line or key, and what was expected, so the command line can print it as one
line without a traceback.
"""

from __future__ import annotations


class ChipthermError(Exception):
    """Base class of every error chiptherm raises on purpose."""


class InputError(ChipthermError):
    """An input file or argument is invalid.

    Attributes:
        source: the file (or other origin) the bad value came from, if known.
        line: 1-based line number in that file, if known.
        key: dotted key path inside the document, e.g. ``layers[2].thickness``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.key = key
        self.detail = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.source:
            where = self.source
            if self.line is not None:
                where += f":{self.line}"
        if self.key:
            where = f"{where}: {self.key}" if where else self.key
        return f"{where}: {self.detail}" if where else self.detail


class StackError(InputError):
    """A stack description (YAML file or Python object) is invalid."""


class FormatError(InputError):
    """A HotSpot or 3D-ICE input file is malformed."""


class UnsupportedError(InputError):
    """The input asks for a feature chiptherm does not implement."""


class SolverError(ChipthermError):
    """A linear solve failed: no convergence, or a singular system."""


class Interrupted(ChipthermError):
    """Long work stopped by SIGINT (Ctrl-C) or SIGTERM after saving what it had.

    Attributes:
        signal_name: 'SIGINT' or 'SIGTERM'.
        saved: the folder holding the checkpoint written on the way out, if any.
    """

    exit_code = 130

    def __init__(self, message: str, *, signal_name: str, saved: str | None = None) -> None:
        self.signal_name = signal_name
        self.saved = saved
        super().__init__(message)


class ChipthermWarning(UserWarning):
    """Input that is accepted but probably not what was meant (a floorplan with gaps). The
    command line prints each as one 'warning:' line."""
