"""The studies the metamorphic suite rewrites, and which variants each gets in CI.

One calcscan run costs 4-13 s on the shared 2-core machine (about 3.5 s of it the process
and the run around the study; measured: contrast slab 4 s, abdomen 4-5 s, QRM 5-6 s, sample
phantom 8-12 s, chest 8-13 s with its 127 deposits' key images), and every variant is one
run, so the CI matrix is chosen to stay near 4 minutes rather than to run everything:

- every variant calcscan must survive runs at least once on a real CT, the cheapest taking
  the most: every transfer syntax, both rescales and the file-order variant on the 20-slice
  contrast slab (real 12-bit JPEG 2000 with empty UIDs); explicit VR little endian is what
  every geometric and rescale variant is written in, so it has no test of its own in CI;
- the scanner geometries (transposed, feet first, prone) on every real CT but the inserted
  chest, and on the phantom transposed and flipped rows (its hip and shoulder masses are the
  most at stake when array axes are taken for patient directions);
- the enhanced multi-frame on QRM (another loader path and header layout), one more
  re-encoding on QRM and on the abdomen;
- the inserted-deposit chest only under CALCSCAN_METAMORPHIC_ALL: it is the chest CT with
  ten deposits added, and in the full matrix it failed and passed exactly as the chest did,
  at the cost of the most expensive seed again.

flipped_columns is left out of CI because calcscan builds the same array from it as from
feet_first (both turn the row cosine and hence the slice normal round).
CALCSCAN_METAMORPHIC_ALL=1 runs all 17 variants on all 6 seeds (102 tests, 15-16 min).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.conftest import SAMPLE, SHARED_DATA, require_shared
from tests.metamorphic.variants import ALL, ENCODINGS

SCANNER_GEOMETRIES = ("transposed", "feet_first", "prone")


@dataclass(frozen=True)
class Seed:
    """A study whose CT series is rewritten: a DICOM folder, or a NIfTI written as DICOM first."""

    name: str
    path: Path
    variants: tuple[str, ...]

    def ct_folder(self, workspace: Path) -> Path:
        """The classic CT series calcscan reads as the original (written once for a NIfTI)."""
        if self.path.is_relative_to(SHARED_DATA):
            require_shared(self.path)
        if self.path.is_dir():
            return self.path
        return nifti_as_dicom(self.path, workspace / f"{self.name}-dicom")


_ALL = os.environ.get("CALCSCAN_METAMORPHIC_ALL", "") not in ("", "0")


def _matrix(*variants: str) -> tuple[str, ...]:
    """The variants a seed gets in CI, or all of them under CALCSCAN_METAMORPHIC_ALL."""
    return ALL if _ALL else variants


SEEDS = (
    Seed("tumoral", SAMPLE / "tumoral" / "CT", _matrix("transposed", "flipped_rows")),
    Seed("chest", SHARED_DATA / "pyradiomics-chest-ct" / "dicom", _matrix(*SCANNER_GEOMETRIES)),
    Seed("chest_inserted", SHARED_DATA / "pyradiomics-chest-ct-inserted" / "dicom", _matrix()),
    Seed(
        "qrm",
        SHARED_DATA / "qrm-canon-large-rep1" / "dicom",
        _matrix(*SCANNER_GEOMETRIES, "enhanced", "jpeg_ls"),
    ),
    Seed(
        "contrast",
        SHARED_DATA / "totalseg-contrast-upper-abdomen" / "dicom",
        _matrix(
            *SCANNER_GEOMETRIES,
            "flipped_rows",
            "reversed_order",
            *(name for name in ENCODINGS if name != "explicit_little"),
            "rescale_intercept0",
            "rescale_slope_half",
        ),
    ),
    Seed(
        "abdomen",
        SHARED_DATA / "totalseg-abdomen-ct" / "ct.nii.gz",
        _matrix(*SCANNER_GEOMETRIES, "deflated"),
    ),
)


def nifti_as_dicom(nifti: Path, folder: Path) -> Path:
    """A NIfTI CT written as a classic DICOM CT series with calcscan's writer.

    SimpleITK reads NIfTI (RAS on disk) into LPS origin and direction, which is DICOM's
    patient frame, so its geometry goes into the affine unchanged.
    """
    import SimpleITK as sitk

    from pipeline.dicom.write import StudyMeta, uid_from, write_ct_series

    if folder.exists():
        return folder
    image = sitk.ReadImage(str(nifti))
    affine = np.eye(4)
    affine[:3, :3] = np.array(image.GetDirection()).reshape(3, 3) * np.array(image.GetSpacing())
    affine[:3, 3] = image.GetOrigin()
    write_ct_series(
        sitk.GetArrayFromImage(image).astype(np.int16),
        affine,
        folder,
        StudyMeta(uid_from("metamorphic", nifti.name), patient_id="TOTALSEG-EXAMPLE"),
        series_uid=uid_from("metamorphic", nifti.name, "series"),
        frame_of_reference_uid=uid_from("metamorphic", nifti.name, "for"),
        body_part="ABDOMEN",
    )
    return folder
