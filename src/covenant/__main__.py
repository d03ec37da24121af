"""``python -m covenant`` is the ``covenant`` command."""

from covenant.cli import main

main()
