"""Plain-language names of deposit sites and sizes for the pattern reasons.

Reasons are read by radiologists, so they name sites as a report would ("both kidneys",
"periarticular at the right hip") and always cite the deposit ids they rest on.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.models import Deposit

PAIRED_ORGANS = {"kidney": "kidneys", "lung": "lungs", "eye": "eyes"}
SINGLE_ORGANS = {"stomach": "stomach", "brain": "brain", "other_visceral": "other internal organ"}
TISSUE_WORDS = {
    "skin_subcutaneous": "subcutaneous",
    "muscle": "intramuscular",
    "periarticular": "periarticular",
    "tendon": "tendon",
    "arterial_wall": "arterial wall",
    "unknown": "tissue unknown",
}
TRUNK = {"head", "neck", "chest", "abdomen", "pelvis"}
# superficial deposits of the trunk lie in its wall, not in the cavity
BODY_WALLS = {"chest": "chest wall", "abdomen": "abdominal wall", "pelvis": "pelvic wall"}
WALL_TISSUES = {"skin_subcutaneous", "muscle"}


def ids(deposits: Iterable[Deposit]) -> list[str]:
    """Deposit ids in their natural order (D2 before D10)."""
    return sorted({d.id for d in deposits}, key=_id_order)


def _id_order(text: str) -> tuple[int, str]:
    digits = text.lstrip("D")
    return (int(digits), text) if digits.isdigit() else (1 << 30, text)


def cite(deposits: Iterable[Deposit]) -> str:
    return "(" + ", ".join(ids(deposits)) + ")"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def volume(mm3: float) -> str:
    """250 mm3, 4.7 cm3, 38 cm3."""
    if mm3 < 1000:
        return f"{mm3:.0f} mm3"
    cm3 = mm3 / 1000
    return f"{cm3:.1f} cm3" if cm3 < 10 else f"{cm3:.0f} cm3"


def _side_word(sides: set[str]) -> str:
    if {"left", "right"} <= sides:
        return "both"
    known = sides & {"left", "right"}
    return next(iter(known)) if known else ""


def site_phrase(region: str, tissue: str, sides: set[str]) -> str:
    """How a report names deposits of one region and tissue on the given sides."""
    side = _side_word(sides)
    if tissue in PAIRED_ORGANS:
        return {"both": f"both {PAIRED_ORGANS[tissue]}", "": tissue}.get(side, f"{side} {tissue}")
    if tissue in SINGLE_ORGANS:
        return SINGLE_ORGANS[tissue]
    if tissue == "arterial_wall":
        return f"arterial wall {_where(region, '', tissue)}"
    return f"{TISSUE_WORDS.get(tissue, tissue)} {_where(region, side, tissue)}".strip()


def _where(region: str, side: str, tissue: str) -> str:
    name = BODY_WALLS.get(region, region) if tissue in WALL_TISSUES else region
    name = name.replace("_", " ")
    if region == "unknown":
        return "(region unknown)"
    if region in TRUNK:
        if side == "both":
            return f"in the {name} (both sides)"
        return f"in the {side} {name}" if side else f"in the {name}"
    if side == "both":
        return f"at both {name}s"
    return f"at the {side} {name}" if side else f"at the {name}"


def sites_summary(deposits: Iterable[Deposit]) -> str:
    """ "both kidneys (D1, D2), periarticular at the right hip (D5)": grouped by region
    and tissue, in order of first appearance."""
    groups: dict[tuple[str, str], list[Deposit]] = {}
    for d in sorted(deposits, key=lambda d: _id_order(d.id)):
        groups.setdefault((d.region, d.tissue), []).append(d)
    parts = []
    for (region, tissue), members in groups.items():
        sides = {d.laterality for d in members}
        parts.append(f"{site_phrase(region, tissue, sides)} {cite(members)}")
    return ", ".join(parts)
