"""``python -m sst`` runs the command line."""

from sst.cli.app import main

main()
