"""Projection radiographs (CR, DX, RG/XR) into images where dense means bright.

There are no Hounsfield units on a radiograph, so the loader keeps the values after the
Modality LUT, inverts MONOCHROME1 so that bone and calcium are always high, and says where
the pixel spacing came from, because many real files store none, or 0.0.
"""

from __future__ import annotations

import warnings

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from pipeline.dicom.values import number, positive_pair, strings, text, vector
from pipeline.errors import LoadError
from pipeline.load.pixels import DecodeProblem, decode_frames, read_dataset
from pipeline.models import Radiograph, Stack


def load_radiograph(stack: Stack) -> Radiograph:
    inst = stack.slices[0].instance
    try:
        ds = read_dataset(inst.path)
        stored = decode_frames(ds)[0]
    except DecodeProblem as exc:
        raise LoadError(f"{inst.path}: {exc}") from None
    values, inverted = _dense_is_bright(stored, ds)
    spacing, source, spacing_warnings = _pixel_spacing(ds)
    orientation = strings(ds, "PatientOrientation")
    return Radiograph(
        pixels=values,
        study_uid=inst.study_uid,
        series_uid=inst.series_uid,
        sop_instance_uid=inst.sop_instance_uid,
        stack_label=stack.label,
        path=inst.path,
        pixel_spacing_mm=spacing,
        spacing_source=source,
        body_part_examined=inst.body_part_examined,
        view_position=inst.view_position,
        laterality=_laterality(ds),
        patient_orientation=(orientation[0], orientation[1]) if len(orientation) == 2 else None,
        inverted=inverted,
        bits_stored=int(ds.get("BitsStored") or 0) or None,
        warnings=[*stack.warnings, *spacing_warnings],
    )


def _dense_is_bright(stored: np.ndarray, ds: Dataset) -> tuple[np.ndarray, bool]:
    """Modality LUT, then MONOCHROME1 mirrored within its value range (dense -> high)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = np.asarray(apply_modality_lut(stored, ds), dtype=np.float32)
        lo, hi = (float(v) for v in apply_modality_lut(_stored_range(ds), ds))
    if str(ds.get("PhotometricInterpretation", "")).strip() != "MONOCHROME1":
        return values, False
    lo, hi = min(lo, hi), max(lo, hi)
    return (lo + hi) - values, True


def _stored_range(ds: Dataset) -> np.ndarray:
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if ds.get("PixelRepresentation", 0) == 1:
        return np.array([-(1 << (bits - 1)), (1 << (bits - 1)) - 1])
    return np.array([0, (1 << bits) - 1])


def _pixel_spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str, list[str]]:
    """(row, column) spacing at the patient in mm, where it came from, and warnings.

    PixelSpacing is already at the patient (calibrated); ImagerPixelSpacing is at the
    detector and is divided by EstimatedRadiographicMagnificationFactor when given.
    """
    calibrated = positive_pair(ds, "PixelSpacing")
    if calibrated:
        return calibrated, "PixelSpacing", []
    imager = positive_pair(ds, "ImagerPixelSpacing")
    magnification = number(ds, "EstimatedRadiographicMagnificationFactor")
    if imager and magnification and magnification > 0:
        spacing = (imager[0] / magnification, imager[1] / magnification)
        return spacing, "ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor", []
    if imager:
        note = (
            "pixel spacing is at the detector (ImagerPixelSpacing, no magnification factor): "
            "sizes are slightly overestimated"
        )
        return imager, "ImagerPixelSpacing", [note]
    zeros = [k for k in ("PixelSpacing", "ImagerPixelSpacing") if vector(ds, k, 2) is not None]
    why = f"{' and '.join(zeros)} is 0 or negative" if zeros else "no PixelSpacing or ImagerPixelSpacing"
    return None, f"unknown ({why})", [f"pixel spacing unknown ({why}): sizes are in pixels"]


def _laterality(ds: Dataset) -> str | None:
    for keyword in ("ImageLaterality", "Laterality"):
        value = (text(ds, keyword) or "").upper()
        if value in ("L", "R", "B", "U"):
            return value
    return None
