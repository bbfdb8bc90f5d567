"""``python -m chiptherm``: the command line, without the installed script."""

from chiptherm.cli import main

main()
