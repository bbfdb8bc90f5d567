"""The ``chiptherm`` command line: parse, call the library, print. No physics here.

Commands live in modules by what they work on (:mod:`.solving`, :mod:`.studies`,
:mod:`.transient`, :mod:`.impedance`, :mod:`.sensitivity`, :mod:`.review`, :mod:`.floorplan`,
:mod:`.formats`, :mod:`.training`, :mod:`.prediction`, :mod:`.response`, :mod:`.design`,
:mod:`.demo`); importing them registers them on :data:`app`, in the order of the help page.
"""

from __future__ import annotations

# isort: off
from chiptherm.cli import solving  # noqa: F401  (registers solve first)
from chiptherm.cli import studies  # noqa: F401  (converge, sweep)
from chiptherm.cli import transient  # noqa: F401  (after sweep)
from chiptherm.cli import impedance  # noqa: F401
from chiptherm.cli import sensitivity  # noqa: F401
from chiptherm.cli import review  # noqa: F401
from chiptherm.cli import floorplan, formats  # noqa: F401
from chiptherm.cli import training, prediction, response, design, demo  # noqa: F401  (in order)

# isort: on
from chiptherm.cli.common import app, reflow_help

for _command in app.registered_commands:
    if _command.help is None and _command.callback is not None and _command.callback.__doc__:
        _command.help = reflow_help(_command.callback.__doc__)


def main() -> None:
    app()


__all__ = ["app", "main", "reflow_help"]
