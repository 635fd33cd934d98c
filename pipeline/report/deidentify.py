"""`--deidentify`: the DICOM Basic Application Level Confidentiality Profile (PS3.15 Annex E)
over every output; see confidentiality_profile.py for the attributes and options.

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

from pipeline.dicom import confidentiality_profile as profile

KEY_VARIABLE = "CALCSCAN_PSEUDONYM_KEY"
REMOVED = "[removed]"
_UID = re.compile(r"^[0-9]+(\.[0-9]+)+$")  # a bare number may be an ID, so one dot at least
_UID_TOKEN = r"(?<![\w.])[0-9]+(?:\.[0-9]+)+(?![\w.])"  # a UID (or a decimal) inside a text
_PSEUDONYM_TOKEN = r"(?<![\w-])ANON-[0-9A-F]{12}(?![\w-])"  # never scrubbed: an input ID "ANON" is common
_MIN_SCRUB_LENGTH = 3  # shorter values ("1", "M") occur everywhere by chance
_ALNUM_BEFORE, _ALNUM_AFTER = r"(?<![^\W_])", r"(?![^\W_])"  # a letter or digit next to it


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
        """run.json's `deidentified`: the profile applied and where the pseudonyms come from."""
        if self.key_is_random:
            keys = (
                f"pseudonyms from a random key drawn for this run (set {KEY_VARIABLE} "
                "to keep them stable across runs)"
            )
        else:
            keys = f"pseudonyms keyed by {KEY_VARIABLE}"
        return f"{profile.describe()}; {keys}"


def deidentified_report(report: dict[str, Any]) -> dict[str, Any]:
    """report.json's content under the profile: the study and series descriptions and the
    accession number go (the profile removes descriptors: calcscan does not apply the Clean
    Descriptors Option), the study date stays (Retain Longitudinal Temporal Information with
    Full Dates), and the study says which profile and options were applied."""
    study = report["study"]
    study["description"] = None
    study["accession_number"] = None
    study["deidentification"] = {
        "profile": f"{profile.STANDARD} {profile.PROFILE_NAME}",
        "options": [meaning for _, meaning in profile.OPTION_CODES],
        "codes": [code for code, _ in (profile.PROFILE_CODE, *profile.OPTION_CODES)],
    }
    for series in report.get("series", []):
        series["description"] = None
    return report


def scrub(value: Any, identifiers: Iterable[str]) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with every identifier replaced in its text.

    UIDs are left as they are, whole or inside a text: an identifier that happens to be a
    digit run inside a UID is a coincidence, and changing it would break the reference.
    """
    found = scrubber(identifiers)
    return value if found is None else _scrub(value, found)


@dataclass(frozen=True)
class Scrubber:
    """The identifiers of a study (or a run), ready to be replaced in any text."""

    pattern: re.Pattern[str]  # the UIDs and pseudonyms to skip, then the identifiers
    identifiers: frozenset[str]  # lower case

    def text(self, text: str) -> str:
        """`text` with every identifier replaced; a UID or a pseudonym inside it is kept
        unless it is an identifier itself (an ID written as "123.456")."""

        def replace(match: re.Match[str]) -> str:
            kept = match.group("keep")
            return kept if kept is not None and kept.lower() not in self.identifiers else REMOVED

        return self.pattern.sub(replace, text)


def scrubber(identifiers: Iterable[str]) -> Scrubber | None:
    """One case-insensitive pattern for all identifiers, longest first (so that a full name
    wins over an ID inside it), after the UIDs and pseudonyms it must skip; None when there
    is nothing long enough to look for.

    A value with a digit is found anywhere ("MRN-93817" in "PAT_MRN-93817.zip"); a value of
    letters only is found as a whole word, so that an operator called "Ron" leaves
    "calcification" alone."""
    needles = sorted({i for i in identifiers if len(i) >= _MIN_SCRUB_LENGTH}, key=len, reverse=True)
    if not needles:
        return None
    alternatives = "|".join(map(_needle, needles))
    keep = f"{_UID_TOKEN}|{_PSEUDONYM_TOKEN}"
    pattern = re.compile(f"(?P<keep>{keep})|(?P<id>{alternatives})", re.IGNORECASE)
    return Scrubber(pattern, frozenset(n.lower() for n in needles))


def _needle(identifier: str) -> str:
    escaped = re.escape(identifier)
    if any(c.isdigit() for c in identifier):
        return escaped
    return f"{_ALNUM_BEFORE}{escaped}{_ALNUM_AFTER}"


def _scrub(value: Any, found: Scrubber) -> Any:
    if isinstance(value, str):
        return value if _UID.match(value) else found.text(value)
    if isinstance(value, dict):
        return {k: _scrub(v, found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, found) for v in value]
    return value
