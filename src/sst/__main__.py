"""``python -m sst`` runs the command line."""

from sst.cli import main

main()
