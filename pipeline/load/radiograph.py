"""Projection radiographs (CR, DX, RG/XR) into images where dense means bright.

There are no Hounsfield units on a radiograph, so the loader keeps the values after the
Modality LUT, inverts MONOCHROME1 so that bone and calcium are always high, and says where
the pixel spacing came from and why, because many real files store none, 0.0, or two
spacings that disagree (see `_pixel_spacing` for the rules of DICOM PS3.3 it follows).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from pipeline.dicom.checks import PIXEL_SPACING_RANGE_MM
from pipeline.dicom.values import number, positive_pair, present, raw_text, strings, text, vector
from pipeline.errors import LoadError
from pipeline.load.pixels import DecodeProblem, decode_frames, read_dataset
from pipeline.models import Radiograph, Stack

Pair = tuple[float, float]

# EstimatedRadiographicMagnificationFactor accepted (SID/SOD; 1 to ~2 in practice)
MAGNIFICATION_RANGE = (0.5, 5.0)
# PixelSpacing / ImagerPixelSpacing believed as an undeclared magnification correction
CORRECTION_RATIO_RANGE = (0.5, 1.5)
CALIBRATION_TYPES = ("GEOMETRY", "FIDUCIAL")  # PS3.3 10.7.1.2 enumerated values
SAME_RELATIVE = 0.01  # two spacings this close are equal (decimal strings are rounded)
AXES_ALIKE = 0.05  # a magnification scales rows and columns alike, to within this
DETECTOR_AT_PATIENT = "ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor"


@dataclass(frozen=True, slots=True)
class SpacingDecision:
    """The spacing a film is measured with, the attributes it came from, why, and warnings."""

    spacing: Pair | None
    source: str
    why: str
    warnings: tuple[str, ...] = ()


def load_radiograph(stack: Stack) -> Radiograph:
    inst = stack.slices[0].instance
    try:
        ds = read_dataset(inst.path)
        stored = decode_frames(ds)[0]
    except DecodeProblem as exc:
        raise LoadError(f"{inst.path}: {exc}") from None
    values, inverted = _dense_is_bright(stored, ds)
    decision = _pixel_spacing(ds)
    orientation = strings(ds, "PatientOrientation")
    return Radiograph(
        pixels=values,
        study_uid=inst.study_uid,
        series_uid=inst.series_uid,
        sop_instance_uid=inst.sop_instance_uid,
        stack_label=stack.label,
        path=inst.path,
        pixel_spacing_mm=decision.spacing,
        spacing_source=decision.source,
        body_part_examined=inst.body_part_examined,
        view_position=inst.view_position,
        laterality=_laterality(ds),
        patient_orientation=(orientation[0], orientation[1]) if len(orientation) == 2 else None,
        inverted=inverted,
        bits_stored=int(ds.get("BitsStored") or 0) or None,
        warnings=[*stack.warnings, *decision.warnings],
        spacing_note=decision.why,
    )


def calibration_of(image: Radiograph) -> dict[str, object]:
    """The spacing a film was measured with and why: report.json's series `calibration`."""
    spacing = image.pixel_spacing_mm
    return {
        "pixel_spacing_mm": None if spacing is None else [spacing[0], spacing[1]],
        "source": image.spacing_source,
        "why": image.spacing_note,
    }


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


def _pixel_spacing(ds: Dataset) -> SpacingDecision:
    """The (row, column) spacing in mm to measure a film with, where it came from, and why.

    DICOM PS3.3 defines two spacings for a projection radiograph:

    - ImagerPixelSpacing (0018,1164) is at the front plane of the detector (C.8.11.7 DX
      Detector Module; C.8.1.2 CR Image Module) and is never corrected for magnification.
      Divided by EstimatedRadiographicMagnificationFactor (0018,1114; SID/SOD, C.8.11.5 DX
      Positioning Module) it estimates the spacing at the patient (isocentre plane).
    - PixelSpacing (0028,0030) is "in the patient" (10.7 Basic Pixel Spacing Calibration
      Macro). With PixelSpacingCalibrationType (0028,0A02) GEOMETRY or FIDUCIAL it has been
      calibrated (10.7.1.2) and is preferred. Equal to ImagerPixelSpacing it is not
      calibrated: it is the detector spacing (10.7.1.1). Different from it without a
      calibration type, the standard says it was corrected (10.7.1.1), but files also carry
      such pairs by mistake (a 0.9 mm PixelSpacing beside a 0.35 mm detector measured every
      area 6x too large); so the pair is believed only when it looks like a magnification
      correction, and the choice is always a warning.

    Implausible pixel sizes and magnification factors are ignored with a warning, never
    trusted; every decision carries a sentence saying why, for the report.
    """
    notes: list[str] = []
    pixel = _plausible_pair(ds, "PixelSpacing", notes)
    imager = _plausible_pair(ds, "ImagerPixelSpacing", notes)
    magnification = _magnification(ds, notes)
    calibration = _calibration_type(ds, pixel, notes)
    if pixel and calibration:
        description = text(ds, "PixelSpacingCalibrationDescription")
        decision = _calibrated(pixel, imager, calibration, description)
    elif pixel and imager:
        decision = _both_given(pixel, imager, magnification)
    elif pixel:
        decision = _pixel_spacing_alone(pixel, magnification)
    elif imager:
        decision = _at_detector(imager, magnification, "no usable PixelSpacing")
    else:
        decision = _unknown(ds)
    return replace(decision, warnings=(*notes, *decision.warnings))


def _magnification(ds: Dataset, notes: list[str]) -> float | None:
    """EstimatedRadiographicMagnificationFactor when it is a magnification a film can have.

    It is SID/SOD, so 1 to about 2 in practice; MAGNIFICATION_RANGE is wider so that only
    nonsense (0, negative, NaN, 100) is refused - and said to be refused.
    """
    keyword = "EstimatedRadiographicMagnificationFactor"
    if not present(ds, keyword):
        return None
    value = number(ds, keyword)
    lo, hi = MAGNIFICATION_RANGE
    if value is not None and math.isfinite(value) and lo <= value <= hi:
        return value
    shown = raw_text(ds, keyword)
    notes.append(f"{keyword} {shown} is not a plausible magnification ({lo:g} to {hi:g}): ignored")
    return None


def _calibration_type(ds: Dataset, pixel: Pair | None, notes: list[str]) -> str | None:
    """GEOMETRY or FIDUCIAL (PS3.3 10.7.1.2) when it describes a usable PixelSpacing."""
    keyword = "PixelSpacingCalibrationType"
    kind = (text(ds, keyword) or "").upper()
    if not kind:
        return None
    if kind not in CALIBRATION_TYPES:
        notes.append(f"{keyword} {kind!r} is not GEOMETRY or FIDUCIAL (PS3.3 10.7.1.2): ignored")
        return None
    if pixel is None:
        notes.append(f"{keyword} {kind} but no usable PixelSpacing: the calibration cannot be used")
        return None
    return kind


def _calibrated(pixel: Pair, imager: Pair | None, kind: str, description: str | None) -> SpacingDecision:
    """A declared calibration wins (PS3.3 10.7.1.2); an implausible one is still flagged."""
    meaning = {
        "GEOMETRY": "corrected for geometric magnification",
        "FIDUCIAL": "calibrated against an object of known size (true at its depth)",
    }[kind]
    how = f" ({description})" if description else ""
    why = f"PixelSpacing {_mm(pixel)} is {meaning}{how}: PixelSpacingCalibrationType {kind}, preferred"
    warnings: tuple[str, ...] = ()
    if imager and not _plausible_correction(_ratios(pixel, imager)):
        warnings = (
            f"PixelSpacing {_mm(pixel)} (calibration {kind}) is {_ratio_text(pixel, imager)} "
            f"ImagerPixelSpacing {_mm(imager)}, not a plausible magnification correction: "
            "used as declared, check the calibration",
        )
    return SpacingDecision(pixel, f"PixelSpacing (calibrated: {kind})", why, warnings)


def _both_given(pixel: Pair, imager: Pair, magnification: float | None) -> SpacingDecision:
    """PixelSpacing and ImagerPixelSpacing without a calibration type: which one to believe.

    Equal: PixelSpacing is the detector spacing (PS3.3 10.7.1.1), so the magnification
    applies. Equal to ImagerPixelSpacing / magnification: a geometry correction the file
    did not label. Otherwise a correction makes PixelSpacing 1/magnification of the detector
    spacing, alike on both axes: a ratio in CORRECTION_RATIO_RANGE is believed, any other
    (the 0.9 mm beside a 0.35 mm detector) is a wrong value and the detector spacing is used.
    """
    if _same(pixel, imager):
        return _at_detector(imager, magnification, "PixelSpacing equals ImagerPixelSpacing: not calibrated")
    if magnification and _same(pixel, _scaled(imager, magnification)):
        why = (
            f"PixelSpacing {_mm(pixel)} = ImagerPixelSpacing {_mm(imager)} / "
            f"EstimatedRadiographicMagnificationFactor {magnification:g}: corrected for magnification"
        )
        return SpacingDecision(pixel, "PixelSpacing (corrected for magnification)", why, ())
    conflict = (
        f"PixelSpacing {_mm(pixel)} and ImagerPixelSpacing {_mm(imager)} differ and no "
        "PixelSpacingCalibrationType says why; "
        f"PixelSpacing is {_ratio_text(pixel, imager)} ImagerPixelSpacing"
    )
    lo, hi = CORRECTION_RATIO_RANGE
    if _plausible_correction(_ratios(pixel, imager)):
        why = f"{conflict}, a plausible magnification correction ({lo:g} to {hi:g} times): used PixelSpacing"
        return SpacingDecision(pixel, "PixelSpacing (calibration not declared)", why, (why,))
    detector = _at_detector(imager, magnification, "")
    why = (
        f"{conflict}, not a plausible magnification correction ({lo:g} to {hi:g} times): used "
        f"{detector.source} = {_mm(detector.spacing)}"
    )
    return SpacingDecision(detector.spacing, detector.source, why, (why, *detector.warnings))


def _pixel_spacing_alone(pixel: Pair, magnification: float | None) -> SpacingDecision:
    """PixelSpacing without ImagerPixelSpacing: used, but whether it is at the patient is unknown.

    PS3.3 10.7.1.1: without a calibration type or ImagerPixelSpacing "it cannot be determined
    whether or not correction or calibration have been performed". The magnification is not
    applied: PixelSpacing is defined at the patient, dividing it could correct twice.
    """
    why = (
        f"PixelSpacing {_mm(pixel)} without ImagerPixelSpacing or PixelSpacingCalibrationType: "
        "whether it is corrected for magnification cannot be determined (PS3.3 10.7.1.1)"
    )
    if magnification:
        why += f"; EstimatedRadiographicMagnificationFactor {magnification:g} not applied to it"
    return SpacingDecision(pixel, "PixelSpacing", why, (f"{why}: sizes may be overestimated",))


def _at_detector(imager: Pair, magnification: float | None, reason: str) -> SpacingDecision:
    """The detector spacing, brought to the patient by the magnification when there is one."""
    prefix = f"{reason}; " if reason else ""
    if magnification:
        spacing = _scaled(imager, magnification)
        why = (
            f"{prefix}ImagerPixelSpacing {_mm(imager)} at the detector / "
            f"EstimatedRadiographicMagnificationFactor {magnification:g} = {_mm(spacing)} at the patient"
        )
        return SpacingDecision(spacing, DETECTOR_AT_PATIENT, why)
    why = f"{prefix}ImagerPixelSpacing {_mm(imager)} at the detector, no usable magnification factor"
    note = (
        "pixel spacing is at the detector (ImagerPixelSpacing, no magnification factor): "
        "sizes are slightly overestimated"
    )
    return SpacingDecision(imager, "ImagerPixelSpacing", why, (note,))


def _unknown(ds: Dataset) -> SpacingDecision:
    zeros = [k for k in ("PixelSpacing", "ImagerPixelSpacing") if vector(ds, k, 2) is not None]
    why = "no PixelSpacing or ImagerPixelSpacing"
    if zeros:
        why = f"{' and '.join(zeros)} is 0, negative or implausible"
    warning = f"pixel spacing unknown ({why}): sizes are in pixels"
    return SpacingDecision(None, f"unknown ({why})", f"{why}: sizes are in pixels", (warning,))


def _ratios(pixel: Pair, imager: Pair) -> Pair:
    return (pixel[0] / imager[0], pixel[1] / imager[1])


def _plausible_correction(ratios: Pair) -> bool:
    """Both axes scaled alike, by a factor a magnification correction can give."""
    lo, hi = CORRECTION_RATIO_RANGE
    alike = abs(ratios[0] - ratios[1]) <= AXES_ALIKE * max(ratios)
    return alike and all(lo <= r <= hi for r in ratios)


def _ratio_text(pixel: Pair, imager: Pair) -> str:
    r = _ratios(pixel, imager)
    return f"{r[0]:.2f} times" if math.isclose(*r, rel_tol=SAME_RELATIVE) else f"{r[0]:.2f}/{r[1]:.2f} times"


def _same(a: Pair, b: Pair) -> bool:
    """Equal up to the rounding of decimal strings (DS) by the writer."""
    return all(math.isclose(x, y, rel_tol=SAME_RELATIVE) for x, y in zip(a, b, strict=True))


def _scaled(pair: Pair, magnification: float) -> Pair:
    return (pair[0] / magnification, pair[1] / magnification)


def _mm(pair: Pair | None) -> str:
    return "unknown" if pair is None else f"{pair[0]:.6g}\\{pair[1]:.6g} mm"


def _plausible_pair(ds: Dataset, keyword: str, notes: list[str]) -> tuple[float, float] | None:
    """A spacing pair within the sizes real detectors have; others are reported and ignored."""
    pair = positive_pair(ds, keyword)
    if pair is None:
        return None
    lo, hi = PIXEL_SPACING_RANGE_MM
    if all(math.isfinite(v) and lo <= v <= hi for v in pair):
        return pair
    notes.append(f"{keyword} {pair[0]:g}\\{pair[1]:g} mm is not a plausible pixel size: ignored")
    return None


def _laterality(ds: Dataset) -> str | None:
    for keyword in ("ImageLaterality", "Laterality"):
        value = (text(ds, keyword) or "").upper()
        if value in ("L", "R", "B", "U"):
            return value
    return None
