"""Radiographs written with known pixels, photometric interpretation and spacing tags."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pipeline.dicom.write import StudyMeta, uid_from, write_radiograph
from pipeline.discover import discover
from pipeline.load import load_stack
from pipeline.load.radiograph import calibration_of
from pipeline.models import Radiograph, SeriesOutcome, StudyResult
from pipeline.report.json_report import study_report
from pipeline.report.schema import validate_report
from tests.conftest import pydicom_data_dir

AT_PATIENT = "ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor"


def _image() -> np.ndarray:
    y, x = np.indices((60, 80))
    img = 500 + 10 * x + 3 * y
    img[20:30, 30:40] = 3500  # a dense spot
    return img


def _load(path: Path) -> Radiograph:
    (stack,) = [st for s in discover([path.parent]).studies for st in s.stacks]
    assert stack.kind == "radiograph"
    image = load_stack(stack)
    assert isinstance(image, Radiograph)
    return image


def _write(tmp_path: Path, name: str, *, extra: dict[str, object] | None = None, **kwargs) -> Path:
    """A radiograph; `extra` sets attributes write_radiograph has no argument for (keyword: value)."""
    folder = tmp_path / name
    path = write_radiograph(
        _image(), folder / "img", StudyMeta(uid_from(name, "study")), series_uid=uid_from(name), **kwargs
    )
    if extra:
        ds = pydicom.dcmread(path)
        for keyword, value in extra.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    return path


@pytest.mark.parametrize("modality", ["DX", "CR"])
@pytest.mark.parametrize("monochrome1", [False, True])
def test_dense_is_bright_whatever_the_photometric_interpretation(tmp_path, modality, monochrome1):
    image = _load(_write(tmp_path, f"{modality}{monochrome1}", modality=modality, monochrome1=monochrome1))
    assert image.inverted == monochrome1
    np.testing.assert_array_equal(image.pixels, _image())  # written dense-high; loaded dense-high
    assert image.pixels[25, 35] > image.pixels[5, 5]


GEOMETRY = {"PixelSpacingCalibrationType": "GEOMETRY", "PixelSpacingCalibrationDescription": "SID/SOD 1.25"}


@pytest.mark.parametrize(
    ("name", "tags", "expected", "source", "warned"),
    [
        # PS3.3 10.7.1.2: a declared calibration wins over the detector spacing and the magnification
        (
            "geometry",
            {"pixel_spacing": (0.16, 0.16), "imager_pixel_spacing": (0.2, 0.2), "magnification": 1.1}
            | {"extra": GEOMETRY},
            (0.16, 0.16),
            "PixelSpacing (calibrated: GEOMETRY)",
            (),
        ),
        (
            "fiducial",
            {"pixel_spacing": (0.18, 0.18), "extra": {"PixelSpacingCalibrationType": "FIDUCIAL"}},
            (0.18, 0.18),
            "PixelSpacing (calibrated: FIDUCIAL)",
            (),
        ),
        # ... even when it is an odd one, but then it is flagged
        (
            "geometry_odd",
            {"pixel_spacing": (0.1, 0.12), "imager_pixel_spacing": (0.2, 0.2), "extra": GEOMETRY},
            (0.1, 0.12),
            "PixelSpacing (calibrated: GEOMETRY)",
            ("not a plausible magnification correction: used as declared",),
        ),
        # 10.7.1.1: PixelSpacing equal to ImagerPixelSpacing is the (uncalibrated) detector spacing
        (
            "equal",
            {"pixel_spacing": (0.2, 0.2), "imager_pixel_spacing": (0.2, 0.2)},
            (0.2, 0.2),
            "ImagerPixelSpacing",
            ("pixel spacing is at the detector",),
        ),
        (
            "equal_magnified",
            {"pixel_spacing": (0.2, 0.3), "imager_pixel_spacing": (0.2, 0.3), "magnification": 1.25},
            (0.16, 0.24),
            AT_PATIENT,
            (),
        ),
        # the tester's film: 0.9 mm beside a 0.35 mm detector is no magnification correction
        (
            "conflict",
            {"pixel_spacing": (0.9, 0.9), "imager_pixel_spacing": (0.35, 0.35), "magnification": 1.0},
            (0.35, 0.35),
            AT_PATIENT,
            ("PixelSpacing 0.9\\0.9 mm and ImagerPixelSpacing 0.35\\0.35 mm differ", "used " + AT_PATIENT),
        ),
        (
            "conflict_no_magnification",
            {"pixel_spacing": (0.9, 0.9), "imager_pixel_spacing": (0.35, 0.35)},
            (0.35, 0.35),
            "ImagerPixelSpacing",
            ("2.57 times ImagerPixelSpacing", "pixel spacing is at the detector"),
        ),
        # a ratio a magnification can give: an undeclared calibration, used and said so
        (
            "undeclared",
            {"pixel_spacing": (0.18, 0.18), "imager_pixel_spacing": (0.2, 0.2)},
            (0.18, 0.18),
            "PixelSpacing (calibration not declared)",
            ("PixelSpacing 0.18\\0.18 mm and ImagerPixelSpacing 0.2\\0.2 mm differ", "used PixelSpacing"),
        ),
        (
            "corrected",
            {"pixel_spacing": (0.16, 0.16), "imager_pixel_spacing": (0.2, 0.2), "magnification": 1.25},
            (0.16, 0.16),
            "PixelSpacing (corrected for magnification)",
            (),
        ),
        (
            "unknown_type",
            {"pixel_spacing": (0.9, 0.9), "imager_pixel_spacing": (0.35, 0.35)}
            | {"extra": {"PixelSpacingCalibrationType": "MANUAL"}},
            (0.35, 0.35),
            "ImagerPixelSpacing",
            ("PixelSpacingCalibrationType 'MANUAL' is not GEOMETRY or FIDUCIAL", "differ"),
        ),
        (
            "type_without_spacing",
            {"pixel_spacing": (0.0, 0.0), "imager_pixel_spacing": (0.2, 0.2), "extra": GEOMETRY},
            (0.2, 0.2),
            "ImagerPixelSpacing",
            ("no usable PixelSpacing",),
        ),
        (
            "magnified",
            {"imager_pixel_spacing": (0.2, 0.3), "magnification": 1.25},
            (0.16, 0.24),
            AT_PATIENT,
            (),
        ),
        # an implausible magnification is ignored, with a warning
        (
            "magnification_12",
            {"imager_pixel_spacing": (0.2, 0.2), "magnification": 12},
            (0.2, 0.2),
            "ImagerPixelSpacing",
            ("EstimatedRadiographicMagnificationFactor 12 is not a plausible magnification",),
        ),
        (
            "magnification_0",
            {"pixel_spacing": (0.2, 0.2), "imager_pixel_spacing": (0.2, 0.2), "magnification": 0},
            (0.2, 0.2),
            "ImagerPixelSpacing",
            ("EstimatedRadiographicMagnificationFactor 0 is not a plausible magnification",),
        ),
        (
            "detector",
            {"imager_pixel_spacing": (0.2, 0.2)},
            (0.2, 0.2),
            "ImagerPixelSpacing",
            ("pixel spacing is at the detector",),
        ),
        (
            "pixel_spacing_alone",
            {"imager_pixel_spacing": None, "pixel_spacing": (0.15, 0.15), "magnification": 1.2},
            (0.15, 0.15),
            "PixelSpacing",
            ("cannot be determined", "1.2 not applied"),
        ),
        (
            "zero",
            {"imager_pixel_spacing": None, "pixel_spacing": (0.0, 0.0)},
            None,
            "PixelSpacing is 0",
            ("sizes are in pixels",),
        ),
        (
            "none",
            {"imager_pixel_spacing": None},
            None,
            "no PixelSpacing or ImagerPixelSpacing",
            ("in pixels",),
        ),
    ],
)
def test_pixel_spacing_source_and_unknown_flag(tmp_path, name, tags, expected, source, warned):
    image = _load(_write(tmp_path, name, **tags))
    assert source in image.spacing_source
    for part in warned:
        assert any(part in w for w in image.warnings), (part, image.warnings)
    if not warned:
        assert image.warnings == []
    if expected is None:
        assert image.pixel_spacing_mm is None and not image.spacing_known
    else:
        np.testing.assert_allclose(image.pixel_spacing_mm, expected)
    assert image.spacing_note  # every decision says why
    calibration = calibration_of(image)
    assert calibration["source"] == image.spacing_source and calibration["why"] == image.spacing_note
    assert calibration["pixel_spacing_mm"] == (None if expected is None else list(image.pixel_spacing_mm))


def test_the_conflict_warning_names_both_values_the_choice_and_why(tmp_path):
    tags = {"pixel_spacing": (0.9, 0.9), "imager_pixel_spacing": (0.35, 0.35), "magnification": 1.0}
    image = _load(_write(tmp_path, "conflict", **tags))
    (warning,) = image.warnings
    assert "PixelSpacing 0.9\\0.9 mm" in warning and "ImagerPixelSpacing 0.35\\0.35 mm" in warning
    assert "2.57 times" in warning and "not a plausible magnification correction" in warning
    assert warning.endswith(f"used {AT_PATIENT} = 0.35\\0.35 mm")
    assert image.spacing_note == warning


@pytest.mark.parametrize("value", ["nan", "inf", "-1.3"])
def test_a_magnification_that_is_no_number_is_ignored_with_a_warning(tmp_path, value):
    path = _write(tmp_path, f"m{value}", imager_pixel_spacing=(0.2, 0.2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about a DS of nan or inf: that is the point
        ds = pydicom.dcmread(path)
        ds["EstimatedRadiographicMagnificationFactor"] = pydicom.DataElement(0x00181114, "DS", value)
        ds.save_as(path)
    image = _load(path)
    np.testing.assert_allclose(image.pixel_spacing_mm, (0.2, 0.2))
    assert image.spacing_source == "ImagerPixelSpacing"
    assert any(
        f"EstimatedRadiographicMagnificationFactor {value} is not a plausible" in w for w in image.warnings
    )


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("RG1_UNCR.dcm", "unknown (PixelSpacing is 0, negative or implausible)"),  # PixelSpacing 0.0\0.0
        ("RG3_UNCR.dcm", "unknown (no PixelSpacing or ImagerPixelSpacing)"),  # no spacing at all
    ],
)
def test_real_films_keep_their_spacing_decision(tmp_path, name, source):
    """pydicom-data's CR films: neither gives a usable spacing, so sizes stay in pixels."""
    (tmp_path / "film").mkdir()
    image = _load(Path(shutil.copy(pydicom_data_dir() / name, tmp_path / "film" / name)))
    assert image.pixel_spacing_mm is None and image.spacing_source == source
    assert calibration_of(image) == {"pixel_spacing_mm": None, "source": source, "why": image.spacing_note}
    assert image.spacing_note.endswith("sizes are in pixels")


def test_view_body_part_and_laterality(tmp_path):
    image = _load(
        _write(
            tmp_path,
            "hand",
            body_part="HAND",
            view_position="PA",
            laterality="L",
            patient_orientation=("R", "F"),
        )
    )
    assert (image.body_part_examined, image.view_position, image.laterality) == ("HAND", "PA", "L")
    assert image.patient_orientation == ("R", "F")


def test_multiframe_dx_is_listed_with_a_reason(tmp_path):
    import pydicom

    path = _write(tmp_path, "mf")
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    ds.save_as(path)
    (stack,) = [st for s in discover([path.parent]).studies for st in s.stacks]
    assert stack.kind == "other" and "multi-frame" in stack.reason


def test_report_json_states_the_calibration_of_a_film(tmp_path):
    """A series with a `calibration` gets report.json's block, and the schema accepts it."""
    tags = {"pixel_spacing": (0.9, 0.9), "imager_pixel_spacing": (0.35, 0.35), "magnification": 1.0}
    (study,) = discover([_write(tmp_path, "conflict", **tags).parent]).studies
    (stack,) = study.stacks
    image = load_stack(stack)
    film = SeriesOutcome(stack, 1, None, "analyzed", None, calibration=calibration_of(image))
    before = SeriesOutcome(stack, 1, None, "analyzed", None)  # no calibration: no block
    report = study_report(StudyResult(study, [film, before], deposits=[]), patient_id=None)
    assert validate_report(report) == []
    assert report["series"][0]["calibration"] == {
        "pixel_spacing_mm": [0.35, 0.35],
        "source": AT_PATIENT,
        "why": image.spacing_note,
    }
    assert "calibration" not in report["series"][1]
