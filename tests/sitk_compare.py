"""Comparing a calcscan volume with SimpleITK's reading of the same files.

SimpleITK is the independent reference. Two readers may order the same slices differently
(SimpleITK keeps an enhanced CT's frame order and gives it a left-handed direction; calcscan
sorts along the slice normal), so the comparison is in patient space: every SimpleITK slice
must be one of ours, at the same LPS position (1e-3 mm), with the same HU values.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from pipeline.models import CTVolume

TOL_MM = 1e-3


def assert_matches_sitk(volume: CTVolume, image: sitk.Image, air_hu: float = -1000.0) -> None:
    ref = sitk.GetArrayFromImage(image).astype(np.float64)
    nx, ny, nz = image.GetSize()
    assert volume.hu.shape[1:] == (ny, nx), f"in-plane shape {volume.hu.shape[1:]} vs {(ny, nx)}"
    assert volume.hu.shape[0] == nz, f"{volume.hu.shape[0]} slices vs SimpleITK's {nz}"
    used = set()
    for kk in range(nz):
        k = _matching_slice(volume, image, kk, nx, ny)
        used.add(k)
        ours = volume.hu[k].astype(np.float64)
        inside = ref[kk] >= -1024  # SimpleITK keeps padding / out-of-FOV values; we set air
        np.testing.assert_array_equal(ours[inside], ref[kk][inside])
        assert np.all(ours[~inside] == air_hu)
    assert len(used) == nz


def assert_same_frame(volume: CTVolume, image: sitk.Image) -> None:
    """Origin, spacing and direction equal (for stacks both readers order alike)."""
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=TOL_MM)
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=TOL_MM)
    np.testing.assert_allclose(volume.direction.flatten(), image.GetDirection(), atol=1e-6)


def _matching_slice(volume: CTVolume, image: sitk.Image, kk: int, nx: int, ny: int) -> int:
    """Our slice index for SimpleITK slice kk, checking three in-plane corners in LPS."""
    corners = [(0, 0), (nx - 1, 0), (0, ny - 1)]
    ks = []
    for i, j in corners:
        point = np.array(image.TransformIndexToPhysicalPoint((i, j, kk)))
        ijk = volume.lps_to_index(point)[0]
        k = round(ijk[2])
        ours = volume.index_to_lps([i, j, k])[0]
        assert np.linalg.norm(ours - point) < TOL_MM, (
            f"SimpleITK voxel {(i, j, kk)} at {point} is not on our grid (nearest {ours})"
        )
        ks.append(k)
    assert len(set(ks)) == 1
    return ks[0]
