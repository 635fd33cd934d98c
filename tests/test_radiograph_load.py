"""Radiographs written with known pixels, photometric interpretation and spacing tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.dicom.write import StudyMeta, uid_from, write_radiograph
from pipeline.discover import discover
from pipeline.load import load_stack
from pipeline.models import Radiograph


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


def _write(tmp_path: Path, name: str, **kwargs) -> Path:
    folder = tmp_path / name
    return write_radiograph(
        _image(), folder / "img", StudyMeta(uid_from(name, "study")), series_uid=uid_from(name), **kwargs
    )


@pytest.mark.parametrize("modality", ["DX", "CR"])
@pytest.mark.parametrize("monochrome1", [False, True])
def test_dense_is_bright_whatever_the_photometric_interpretation(tmp_path, modality, monochrome1):
    image = _load(_write(tmp_path, f"{modality}{monochrome1}", modality=modality, monochrome1=monochrome1))
    assert image.inverted == monochrome1
    np.testing.assert_array_equal(image.pixels, _image())  # written dense-high; loaded dense-high
    assert image.pixels[25, 35] > image.pixels[5, 5]


@pytest.mark.parametrize(
    ("tags", "expected", "source"),
    [
        ({"pixel_spacing": (0.1, 0.12), "imager_pixel_spacing": (0.2, 0.2)}, (0.1, 0.12), "PixelSpacing"),
        ({"imager_pixel_spacing": (0.2, 0.3), "magnification": 1.25}, (0.16, 0.24), "EstimatedRadiographic"),
        ({"imager_pixel_spacing": (0.2, 0.2)}, (0.2, 0.2), "ImagerPixelSpacing"),
        ({"imager_pixel_spacing": None, "pixel_spacing": (0.0, 0.0)}, None, "PixelSpacing is 0"),
        ({"imager_pixel_spacing": None}, None, "no PixelSpacing or ImagerPixelSpacing"),
    ],
)
def test_pixel_spacing_source_and_unknown_flag(tmp_path, tags, expected, source):
    image = _load(_write(tmp_path, source.replace(" ", "_"), **tags))
    assert source in image.spacing_source
    if expected is None:
        assert image.pixel_spacing_mm is None and not image.spacing_known
        assert any("sizes are in pixels" in w for w in image.warnings)
    else:
        np.testing.assert_allclose(image.pixel_spacing_mm, expected)


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
