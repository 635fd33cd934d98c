"""What kind of thing an instance is, and why calcscan will not analyse it if it won't.

Every "other" gets a reason a user can act on: the report lists it next to the series, so
nobody has to guess why a series produced no findings.
"""

from __future__ import annotations

from pydicom.uid import UID

from pipeline.models import InstanceHeader

CT_IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2": "CT Image",
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT Image",
}
RADIOGRAPH_MODALITIES = {"CR", "DX", "RG", "XR"}
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"

_SOP_FAMILIES = (  # (SOP class UID prefix, reason)
    ("1.2.840.10008.5.1.4.1.1.66", "segmentation or registration object, not an acquired image"),
    ("1.2.840.10008.5.1.4.1.1.88", "structured report: no image to analyse"),
    ("1.2.840.10008.5.1.4.1.1.11", "presentation state: display settings, no image"),
    ("1.2.840.10008.5.1.4.1.1.481", "radiotherapy object, not a diagnostic image"),
    ("1.2.840.10008.5.1.4.1.1.9", "waveform, not an image"),
    ("1.2.840.10008.5.1.4.1.1.104", "encapsulated document, not an image"),
    ("1.2.840.10008.5.1.4.1.1.1.2", "mammography is out of scope (breast calcification is another task)"),
    (SECONDARY_CAPTURE_PREFIX, "secondary capture: a picture without calibrated geometry or units"),
)
_MODALITY_REASONS = {
    "MR": "MR has no Hounsfield units and shows calcium poorly",
    "MG": "mammography is out of scope (breast calcification is another task)",
    "US": "ultrasound is not analysed",
    "NM": "nuclear medicine is not analysed",
    "PT": "PET is not analysed",
    "KO": "key object selection: a list of references, no image",
    "SR": "structured report: no image to analyse",
    "PR": "presentation state: display settings, no image",
    "SEG": "segmentation object, not an acquired image",
}
_SCOPE = "calcscan analyses CT volumes and plain radiographs (CR/DX)"


def is_ct_image(inst: InstanceHeader) -> bool:
    """A CT image IOD (classic or enhanced), whatever the Modality attribute says."""
    return inst.sop_class_uid in CT_IMAGE_SOP_CLASSES


def is_radiograph_candidate(inst: InstanceHeader) -> bool:
    if inst.modality.upper() not in RADIOGRAPH_MODALITIES:
        return False
    return not any(inst.sop_class_uid.startswith(p) for p, _ in _SOP_FAMILIES[:-1])


def needs_pixels(inst: InstanceHeader) -> bool:
    """Images we would analyse: a header-only copy of one is a file problem, not a series."""
    return is_ct_image(inst) or is_radiograph_candidate(inst)


def other_reason(inst: InstanceHeader) -> str:
    """Why a series that is neither CT nor a radiograph is listed but not analysed."""
    for prefix, reason in _SOP_FAMILIES:
        if inst.sop_class_uid.startswith(prefix):
            return reason
    modality = inst.modality.upper() or "unknown modality"
    if modality in _MODALITY_REASONS:
        return f"{_MODALITY_REASONS[modality]}; {_SCOPE}"
    name = UID(inst.sop_class_uid).name if inst.sop_class_uid else "no SOP class"
    return f"{modality} ({name}) is not analysed; {_SCOPE}"


def radiograph_problem(inst: InstanceHeader) -> str | None:
    """Why a CR/DX instance cannot be analysed as one radiograph, or None if it can."""
    if inst.number_of_frames > 1:
        frames = inst.number_of_frames
        return f"multi-frame {inst.modality} ({frames} frames): only single radiographs are analysed"
    if inst.samples_per_pixel != 1:
        return f"colour {inst.modality} image ({inst.samples_per_pixel} samples per pixel)"
    if not inst.rows or not inst.columns:
        return "no Rows/Columns in the header"
    return None


def ct_kind_problem(inst: InstanceHeader) -> str | None:
    """Why a CT image is not a slice of a volume at all (a scout, a colour map), or None."""
    kinds = set(inst.image_type) | {t for f in inst.frames for t in f.frame_type}
    if "LOCALIZER" in kinds:
        return "CT localizer (scout/topogram): a projection, not a volume"
    if inst.samples_per_pixel != 1:
        return "colour CT image (a derived map), not Hounsfield units"
    return None


def ct_problem(inst: InstanceHeader, n_slices: int, min_slices: int) -> str | None:
    """Why a CT stack is not a volume to analyse, or None if it is."""
    kind = ct_kind_problem(inst)
    if kind:
        return kind
    if n_slices < min_slices:
        return f"only {n_slices} CT slice(s); a volume needs at least {min_slices} (loader.min_ct_slices)"
    return None
