"""`python -m pipeline` runs the calcscan command line."""

from pipeline.cli import main

main()
