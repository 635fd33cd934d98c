"""The real abdomen CT written as a DICOM series and segmented once per test session,
shared by the segmentation and site-mapping tests."""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline.dicom.write import StudyMeta, uid_from, write_ct_series
from pipeline.discover import discover
from pipeline.load import load_stack
from pipeline.models import Segmentation
from pipeline.segment import segment_ct
from tests.conftest import SHARED_DATA, require_shared

ABDOMEN = SHARED_DATA / "totalseg-abdomen-ct"


@cache
def segmented_abdomen() -> tuple[Segmentation, np.ndarray, dict[str, int]]:
    """(segmentation, TotalSegmentator labels on the same grid, {class name: id}).

    The NIfTI (RAS) is written as a DICOM CT series (LPS) by SimpleITK's geometry, loaded
    back through discover/load like any study, and segmented.
    """
    require_shared(ABDOMEN)
    image = sitk.ReadImage(str(ABDOMEN / "ct.nii.gz"))
    hu = sitk.GetArrayFromImage(image).astype(np.int16)
    affine = np.eye(4)
    affine[:3, :3] = np.array(image.GetDirection()).reshape(3, 3) * np.array(image.GetSpacing())
    affine[:3, 3] = image.GetOrigin()
    folder = Path(tempfile.mkdtemp(prefix="calcscan-abdomen-"))
    write_ct_series(
        hu,
        affine,
        folder / "ct",
        StudyMeta(uid_from("abdomen")),
        series_uid=uid_from("abdomen", "ct"),
        frame_of_reference_uid=uid_from("abdomen", "for"),
        body_part="ABDOMEN",
    )
    (stack,) = [st for s in discover([folder]).studies for st in s.stacks]
    volume = load_stack(stack)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-4)  # same grid as the labels
    organs = sitk.GetArrayFromImage(sitk.ReadImage(str(ABDOMEN / "labels_totalsegmentator.nii.gz")))
    names = {v: int(k) for k, v in json.loads((ABDOMEN / "label_names.json").read_text()).items()}
    return segment_ct(volume), organs, names
