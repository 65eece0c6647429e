"""`python -m executor ARGS`, the same as the `executor` script (the daemon starts `report` this way)."""

from executor.cli import main

main()
