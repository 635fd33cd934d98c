"""Organ names of segmentation models (TotalSegmentator and alike) -> report vocabulary.

Class names differ between model versions ("iliac_artery_left" vs
"common_iliac_artery_left", "lung_upper_lobe_left" vs "lung_left"), so they are matched
by name patterns, never by label number.
"""

from __future__ import annotations

import re

# (pattern on the normalised name, tissue, region or None when the level decides)
ORGAN_RULES: list[tuple[str, str, str | None]] = [
    (r"^kidney(?!_cyst)|^renal", "kidney", "abdomen"),
    (r"kidney_cyst", "kidney", "abdomen"),
    (r"^stomach", "stomach", "abdomen"),
    (r"^lung|pulmonary_lobe|^lobe", "lung", "chest"),
    (r"^brain|cerebr|cerebell", "brain", "head"),
    (r"^eye|globe|^lens", "eye", "head"),
    (r"aorta|arter|^iliac_a|carotid|subclavian|brachiocephalic_trunk|coronary", "arterial_wall", None),
    (r"^heart|atrial|ventricle|myocard", "other_visceral", "chest"),
    (
        r"liver|spleen|pancrea|gallbladder|adrenal|duodenum|small_bowel|colon|bowel|intestin",
        "other_visceral",
        "abdomen",
    ),
    (r"urinary_bladder|bladder|prostate|uterus|rectum", "other_visceral", "pelvis"),
    (r"esophag|trachea|thyroid|thymus", "other_visceral", None),
    (r"autochthon|gluteus|iliopsoas|psoas|muscle|quadriceps|sartorius|deltoid", "muscle", None),
]
SIDED = re.compile(r"(?:^|_)(left|right)(?:_|$)")
ALIASES = {"kidney_l": "kidney_left", "kidney_r": "kidney_right", "bladder": "urinary_bladder"}


def normalise(name: str) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    side = re.match(r"^(left|right)_(.+)$", key)
    if side:  # "Left Kidney" (DICOM SEG labels) -> kidney_left (TotalSegmentator style)
        key = f"{side.group(2)}_{side.group(1)}"
    return ALIASES.get(key, key)


def organ_site(name: str) -> tuple[str, str | None, str | None] | None:
    """(tissue, region or None, side or None) of a model class name, or None when the class
    is not a soft-tissue organ the report names (bones, vessels of no interest...)."""
    key = normalise(name)
    side = SIDED.search(key)
    for pattern, tissue, region in ORGAN_RULES:
        if re.search(pattern, key):
            return tissue, region, side.group(1) if side else None
    return None
