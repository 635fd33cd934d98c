"""The one-line summary of a send to a PACS, shared by the STOW-RS and C-STORE senders."""

from __future__ import annotations

_LISTED = 3


def summarize_failures(failures: list[str], n_files: int, n_sent: int) -> str | None:
    """None when nothing failed; else how many files were not stored and the first few reasons."""
    if not failures and n_sent == n_files:
        return None
    shown = "; ".join(failures[:_LISTED]) or "no reason given"
    more = f"; and {len(failures) - _LISTED} more" if len(failures) > _LISTED else ""
    return f"{n_files - n_sent} of {n_files} files not stored: {shown}{more}"
