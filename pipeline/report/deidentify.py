"""`--deidentify`: no patient name, ID, birth date or accession number in any output.

The patient ID becomes a keyed pseudonym (HMAC-SHA256), so that the studies of one patient
still share a pseudonym and can be linked by whoever holds the key, while nobody can get the
ID back by hashing candidate IDs. The key comes from CALCSCAN_PSEUDONYM_KEY; without it a
random key is drawn per run (pseudonyms then differ between runs, and run.json says so).

Besides the fields that carry identity by definition, every text written is scrubbed of the
input's identifying values: a folder named after the patient must not reappear in a warning
or in run.json's list of inputs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

KEY_VARIABLE = "CALCSCAN_PSEUDONYM_KEY"
REMOVED = "[removed]"
_UID = re.compile(r"^[0-9]+(\.[0-9]+)+$")  # a bare number may be an ID, so one dot at least
_MIN_SCRUB_LENGTH = 3  # shorter values ("1", "M") occur everywhere by chance


@dataclass(frozen=True)
class Deidentifier:
    """Pseudonyms and scrubbing for one run."""

    key: bytes
    key_is_random: bool

    @classmethod
    def from_environment(cls) -> Deidentifier:
        given = os.environ.get(KEY_VARIABLE, "")
        if given:
            return cls(given.encode("utf-8"), key_is_random=False)
        return cls(secrets.token_bytes(32), key_is_random=True)

    def pseudonym(self, patient_id: str | None) -> str:
        """A stable stand-in for the patient ID: ANON-<12 hex digits>."""
        digest = hmac.new(self.key, (patient_id or "").encode("utf-8"), hashlib.sha256).hexdigest()
        return f"ANON-{digest[:12].upper()}"

    def describe(self) -> str:
        if self.key_is_random:
            return (
                f"pseudonyms from a random key drawn for this run (set {KEY_VARIABLE} "
                "to keep them stable across runs)"
            )
        return f"pseudonyms keyed by {KEY_VARIABLE}"


def scrub(value: Any, identifiers: Iterable[str]) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with every identifier replaced in its text.

    UIDs are left as they are: an identifier that happens to be a digit run inside a UID is a
    coincidence, and changing it would break the reference.
    """
    pattern = identifier_pattern(identifiers)
    return value if pattern is None else _scrub(value, pattern)


def identifier_pattern(identifiers: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for all identifiers, longest first (so that a full name
    wins over an ID inside it); None when there is nothing long enough to look for."""
    needles = sorted({i for i in identifiers if len(i) >= _MIN_SCRUB_LENGTH}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, needles)), re.IGNORECASE) if needles else None


def _scrub(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return value if _UID.match(value) else pattern.sub(REMOVED, value)
    if isinstance(value, dict):
        return {k: _scrub(v, pattern) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, pattern) for v in value]
    return value
