"""Compare two report.json files of the same study stored differently: same answer or not.

"Same answer", as the metamorphic suite defines it:
- deposits: as many; matched one to one by nearest centroid_lps_mm, each pair within one
  voxel (the largest voxel side of the series); volumes within 1% or one voxel volume,
  whichever is larger; the same region, laterality and tissue;
- pattern ranking: the pattern types in the same order, each with the same verdict (scores
  may move a little with the volumes, so they are not compared);
- warnings (study and series): the same, apart from what describes the storage itself.

Which warnings describe the storage (decided here, and the only ones treated so):
- dropped: the derived-identifiers warning ("... missing or empty in N file(s): derived
  deterministically"): which UIDs a file carries is storage (the enhanced variant is
  written by highdicom with its own series UID, for example);
- masked, the rest compared: slice indices ("slices 39-47", "slice 3"), because the order of
  the slices in the array follows the stored slice normal (the LPS z range beside them is
  compared); positions along the slice normal and the normal vector itself (their sign
  follows the stored cosines).
A file that cannot be decoded, or images not used, are never storage: such warnings are
compared, so a variant that loses a slice fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.metamorphic.patient_space import Grid

STORAGE_WARNINGS = (re.compile(r"missing or empty in \d+ file\(s\): derived deterministically"),)
STORAGE_NUMBERS = (
    (re.compile(r"\bslices? \d+(?:\s*(?:-|to|and)\s*\d+)?"), "slice(s) #"),
    (re.compile(r"along the normal at [^)]*"), "along the normal at #"),
    (re.compile(r"\(normal [^)]*\)"), "(normal #)"),
)
VOLUME_FRACTION = 0.01


@dataclass(frozen=True)
class Match:
    """Deposits of the two reports paired by centroid, and those left over on either side."""

    pairs: list[tuple[dict, dict]]
    missing: list[dict]  # in the original, not in the variant
    extra: list[dict]  # in the variant, not in the original


def read_report(out: Path) -> dict:
    """The one study's report.json of a calcscan run into `out`."""
    (path,) = (out / "studies").glob("*/report.json")
    return json.loads(path.read_text())


def differences(original: dict, variant: dict, grid: Grid) -> list[str]:
    """Every way `variant` answers differently from `original`, one readable line each."""
    return [
        *deposit_differences(original["deposits"], variant["deposits"], grid),
        *pattern_differences(original["patterns"], variant["patterns"]),
        *warning_differences(all_warnings(original), all_warnings(variant)),
    ]


def deposit_differences(original: list[dict], variant: list[dict], grid: Grid) -> list[str]:
    lines = []
    if len(original) != len(variant):
        lines.append(f"{len(variant)} deposits, the original has {len(original)}")
    match = match_deposits(original, variant, grid.voxel_mm)
    lines += [f"missing: {describe(d)}{_nearest(d, variant)}" for d in match.missing]
    lines += [f"extra: {describe(d)}{_nearest(d, original)}" for d in match.extra]
    for a, b in match.pairs:
        lines += _pair_differences(a, b, grid)
    return lines


def match_deposits(original: list[dict], variant: list[dict], max_mm: float) -> Match:
    """Pairs by nearest centroid, closest pairs first, each deposit used once, within max_mm."""
    candidates = sorted(
        (_distance(a, b), i, j)
        for i, a in enumerate(original)
        for j, b in enumerate(variant)
        if _distance(a, b) <= max_mm
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((original[i], variant[j]))
    missing = [d for i, d in enumerate(original) if i not in used_a]
    extra = [d for j, d in enumerate(variant) if j not in used_b]
    return Match(pairs, missing, extra)


def pattern_differences(original: list[dict], variant: list[dict]) -> list[str]:
    ranked_a = [(p["type"], p["verdict"]) for p in original]
    ranked_b = [(p["type"], p["verdict"]) for p in variant]
    if ranked_a == ranked_b:
        return []
    return [f"pattern ranking {_ranking(variant)}, the original {_ranking(original)}"]


def warning_differences(original: list[str], variant: list[str]) -> list[str]:
    a, b = _comparable(original), _comparable(variant)
    lines = [f"warning only in the original: {w}" for w in sorted(set(a) - set(b))]
    return lines + [f"warning only in the variant: {w}" for w in sorted(set(b) - set(a))]


def all_warnings(report: dict) -> list[str]:
    """The study's warnings and every series' warnings."""
    series = [w for s in report.get("series", []) for w in s.get("warnings", [])]
    return [*report.get("warnings", []), *series]


def describe(deposit: dict) -> str:
    """A deposit as a reader of the failure needs it: where, how big, which site."""
    x, y, z = deposit["centroid_lps_mm"]
    return (
        f"{deposit['id']} at ({x:.1f}, {y:.1f}, {z:.1f}) mm LPS, {deposit['volume_mm3']:.1f} mm3, "
        f"{deposit['region']}/{deposit['laterality']}/{deposit['tissue']}"
    )


def _pair_differences(a: dict, b: dict, grid: Grid) -> list[str]:
    lines = []
    allowed = max(VOLUME_FRACTION * a["volume_mm3"], grid.voxel_mm3)
    if abs(a["volume_mm3"] - b["volume_mm3"]) > allowed:
        lines.append(
            f"volume {b['volume_mm3']:.1f} mm3 in the variant's {b['id']} (allowed +-{allowed:.1f}), "
            f"original {describe(a)}"
        )
    site_a = (a["region"], a["laterality"], a["tissue"])
    site_b = (b["region"], b["laterality"], b["tissue"])
    if site_a != site_b:
        lines.append(f"site {'/'.join(site_b)} in the variant's {b['id']}, original {describe(a)}")
    return lines


def _comparable(warnings: list[str]) -> list[str]:
    kept = [w for w in warnings if not any(p.search(w) for p in STORAGE_WARNINGS)]
    for pattern, mask in STORAGE_NUMBERS:
        kept = [pattern.sub(mask, w) for w in kept]
    return kept


def _distance(a: dict, b: dict) -> float:
    return float(np.linalg.norm(np.subtract(a["centroid_lps_mm"], b["centroid_lps_mm"])))


def _nearest(deposit: dict, others: list[dict]) -> str:
    """How far the closest deposit on the other side is, to tell a shift from a new finding."""
    if not others:
        return ""
    other = min(others, key=lambda d: _distance(deposit, d))
    return f" (nearest on the other side: {other['id']}, {_distance(deposit, other):.1f} mm away)"


def _ranking(patterns: list[dict]) -> str:
    return " > ".join(f"{p['type']} ({p['verdict']})" for p in patterns)
