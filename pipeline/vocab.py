"""Fixed vocabularies of the report contract (../shared/spec/report-contract.md).

Every stage that names a region, tissue, side or series kind uses these, so that a typo is
an import error rather than a silently wrong report.
"""

from typing import Literal, get_args

Region = Literal[
    "head",
    "neck",
    "chest",
    "abdomen",
    "pelvis",
    "shoulder",
    "upper_arm",
    "elbow",
    "forearm",
    "hand",
    "hip",
    "thigh",
    "knee",
    "lower_leg",
    "foot",
    "unknown",
]
Tissue = Literal[
    "skin_subcutaneous",
    "muscle",
    "periarticular",
    "tendon",
    "lung",
    "kidney",
    "stomach",
    "brain",
    "eye",
    "arterial_wall",
    "other_visceral",
    "unknown",
]
Laterality = Literal["left", "right", "midline", "unknown"]
SeriesKind = Literal["ct_volume", "radiograph", "other"]
SeriesStatus = Literal["analyzed", "skipped", "failed"]
PatternType = Literal["metastatic", "tumoral", "dystrophic", "calcific_tendinitis"]
Verdict = Literal["consistent", "possible", "unlikely"]
ContrastPhase = Literal["none", "arterial", "portal_venous", "delayed", "unknown"]
IncidentalKind = Literal[
    "costal_cartilage", "laryngotracheal_cartilage", "intracranial_physiologic", "phlebolith", "other"
]

REGIONS: tuple[str, ...] = get_args(Region)
TISSUES: tuple[str, ...] = get_args(Tissue)
LATERALITIES: tuple[str, ...] = get_args(Laterality)
SERIES_KINDS: tuple[str, ...] = get_args(SeriesKind)
PATTERN_TYPES: tuple[str, ...] = get_args(PatternType)
VERDICTS: tuple[str, ...] = get_args(Verdict)
CONTRAST_PHASES: tuple[str, ...] = get_args(ContrastPhase)
INCIDENTAL_KINDS: tuple[str, ...] = get_args(IncidentalKind)
