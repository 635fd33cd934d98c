"""Coded concepts of the DICOM SEG and SR: the report vocabularies as standard codes.

Every code here is taken from DICOM PS3.16 (the context group named beside it, as shipped in
pydicom's code dictionary; tests/test_dicom_outputs.py checks each one against it), so that
a PACS or viewer that knows the standard reads our findings without knowing calcscan. A
vocabulary value without a fitting standard code maps to None and is left out of the
objects rather than coded with an invented or approximate concept.
"""

from __future__ import annotations

from pydicom.sr.coding import Code

# Segmented property category and type (CID 7150 / CID 3802): what every segment is.
MORPHOLOGICALLY_ABNORMAL_STRUCTURE = Code("49755003", "SCT", "Morphologically abnormal structure")
PATHOLOGIC_CALCIFICATION = Code("18115005", "SCT", "Pathologic calcification")

# CID 4031 "Common Anatomic Regions": the report's `region` vocabulary.
REGIONS: dict[str, Code] = {
    "head": Code("69536005", "SCT", "Head"),
    "neck": Code("45048000", "SCT", "Neck"),
    "chest": Code("816094009", "SCT", "Chest"),
    "abdomen": Code("818981001", "SCT", "Abdomen"),
    "pelvis": Code("816092008", "SCT", "Pelvis"),
    "shoulder": Code("16982005", "SCT", "Shoulder"),
    "upper_arm": Code("40983000", "SCT", "Upper arm"),
    "elbow": Code("16953009", "SCT", "Elbow joint"),  # CID 4031 has no "elbow" region, only the joint
    "forearm": Code("14975008", "SCT", "Forearm"),
    "hand": Code("85562004", "SCT", "Hand"),
    "hip": Code("29836001", "SCT", "Hip"),
    "thigh": Code("68367000", "SCT", "Thigh"),
    "knee": Code("72696002", "SCT", "Knee"),
    "lower_leg": Code("30021000", "SCT", "Lower leg"),
    "foot": Code("56459004", "SCT", "Foot"),
}

# CID 7151 "Segmentation Property Types - Anatomical Structures" (skeletal muscle: CID 7710):
# the structure a deposit lies in. "periarticular" and "other_visceral" have no code.
TISSUES: dict[str, Code] = {
    "skin_subcutaneous": Code("71966008", "SCT", "Subcutaneous tissue"),
    "muscle": Code("127954009", "SCT", "Skeletal muscle"),
    "tendon": Code("13024002", "SCT", "Tendon"),
    "lung": Code("39607008", "SCT", "Lung"),
    "kidney": Code("64033007", "SCT", "Kidney"),
    "stomach": Code("69695003", "SCT", "Stomach"),
    "brain": Code("12738006", "SCT", "Brain"),
    "eye": Code("81745001", "SCT", "Eye"),
    "arterial_wall": Code("51114001", "SCT", "Artery"),
}

# CID 244 "Laterality" (SR finding site) and CID 2 "Anatomic Modifier" (SEG region modifier,
# SR topographical modifier); only CID 2 has a midline concept ("Median").
LATERALITY: dict[str, Code] = {
    "left": Code("7771000", "SCT", "Left"),
    "right": Code("24028007", "SCT", "Right"),
}
MEDIAN = Code("130290", "DCM", "Median")

# Measurements (TID 300 in TID 1411): CID 7469 names, CID 7464 derivations, CID 7181 units.
VOLUME = Code("118565006", "SCT", "Volume")
VOLUME_FROM_VOXEL_SUMMATION = Code("YEKZ", "IBSI", "Volume from Voxel Summation")
ATTENUATION_COEFFICIENT = Code("112031", "DCM", "Attenuation Coefficient")
MEAN = Code("373098007", "SCT", "Mean")
MAXIMUM = Code("56851009", "SCT", "Maximum")
CUBIC_MILLIMETER = Code("mm3", "UCUM", "cubic millimeter")
# Radiograph (TID 1410) sizes: CID 7469 / CID 7470 names, CID 7181 units.
AREA = Code("42798000", "SCT", "Area")
DIAMETER = Code("81827009", "SCT", "Diameter")
SQUARE_MILLIMETER = Code("mm2", "UCUM", "square millimeter")
MILLIMETER = Code("mm", "UCUM", "millimeter")
HOUNSFIELD_UNIT = Code("[hnsf'U]", "UCUM", "Hounsfield unit")
# Calcium scores (PS3.16 DCM, as in the cardiac CT calcium scoring templates); the Agatston
# method is CID 6140 "Calculation Method".
CALCIUM_SCORE = Code("112058", "DCM", "Calcium score")
AGATSTON_SCORING_METHOD = Code("112055", "DCM", "Agatston scoring method")
CALCIUM_MASS = Code("122661", "DCM", "Calcium Mass")
NO_UNITS = Code("1", "UCUM", "no units")
MILLIGRAM = Code("mg", "UCUM", "milligram")

# Per-frame derivation of a SEG frame from its source image (CID 7203, CID 7202), as highdicom.
SEGMENTATION_DERIVATION = Code("113076", "DCM", "Segmentation")
SOURCE_IMAGE_FOR_PROCESSING = Code("121322", "DCM", "Source image for image processing operation")

# Report context: CID 100 procedure, CID 270 observer type, CID 7162 algorithm family (HU
# threshold + morphology).
CT_PROCEDURE = Code("25045-6", "LN", "CT unspecified body region")
XR_PROCEDURE = Code("43468-8", "LN", "XR unspecified body region")
DEVICE_OBSERVER = Code("121007", "DCM", "Device")
ALGORITHM_FAMILY = Code("123104", "DCM", "Morphological Operations")


def region_code(region: str) -> Code | None:
    """CID 4031 code of a report region; None for "unknown"."""
    return REGIONS.get(region)


def tissue_code(tissue: str) -> Code | None:
    """Code of the structure a deposit lies in; None where the vocabulary has no standard code."""
    return TISSUES.get(tissue)


def laterality_code(laterality: str) -> Code | None:
    """CID 244 laterality (left, right); midline is not a laterality there, see side_modifier."""
    return LATERALITY.get(laterality)


def side_modifier(laterality: str) -> Code | None:
    """CID 2 anatomic modifier for the side, including midline ("Median"); None if unknown."""
    return MEDIAN if laterality == "midline" else LATERALITY.get(laterality)
