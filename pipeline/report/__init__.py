"""Reporting stage: pattern ranking and every file `calcscan run` writes (report contract)."""
