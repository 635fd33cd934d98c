"""One patient-aligned orientation for every analysed CT volume, whatever the storage.

Scanners store the same anatomy in many array orders: feet first, prone, decubitus, rows and
columns swapped, slices in either order, sagittal or coronal reconstructions. Every step that
means a direction (the table below the patient, left and right, head and feet, the slice
plane Agatston scores on) would otherwise have to read it from the direction cosines. Instead
the analysis sees each volume once reordered so that its array axes run, as nearly as the
acquisition allows, towards the patient's left (i), posterior (j) and head (k): the identity
direction of DICOM LPS. Only axes are permuted and reversed, so no voxel is resampled and
every LPS coordinate stays exact; the map back to the stored voxel order is kept, so that
reported voxel indices still refer to the series as stored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from pipeline.models import CTVolume

_AXIAL_COS = float(np.cos(np.deg2rad(1.0)))


@dataclass(frozen=True)
class AxisMap:
    """How canonical voxel axes relate to stored ones: canonical axis t (0 = i, 1 = j, 2 = k)
    is stored axis `source[t]`, reversed when `flipped[t]`; `stored_shape` is (ni, nj, nk)."""

    source: tuple[int, int, int]
    flipped: tuple[bool, bool, bool]
    stored_shape: tuple[int, int, int]

    @property
    def identity(self) -> bool:
        return self.source == (0, 1, 2) and not any(self.flipped)

    def to_stored(self, ijk: tuple[float, float, float]) -> tuple[float, float, float]:
        """A canonical voxel position (continuous) in stored voxel indices."""
        out = [0.0, 0.0, 0.0]
        for t, s in enumerate(self.source):
            n = self.stored_shape[s]
            out[s] = (n - 1 - ijk[t]) if self.flipped[t] else ijk[t]
        return (out[0], out[1], out[2])

    def box_to_stored(
        self, box: tuple[tuple[int, int, int], tuple[int, int, int]]
    ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """A canonical box (inclusive min, exclusive max) in stored voxel indices."""
        lo, hi = [0, 0, 0], [0, 0, 0]
        for t, s in enumerate(self.source):
            n = self.stored_shape[s]
            a, b = box[0][t], box[1][t]
            lo[s], hi[s] = (n - b, n - a) if self.flipped[t] else (a, b)
        return (lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2])


def axis_map(affine: np.ndarray, shape_zyx: tuple[int, int, int]) -> AxisMap:
    """The permutation and reversals that bring the voxel axes closest to L, P, S."""
    direction = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    rows, cols = linear_sum_assignment(-np.abs(direction))  # LPS axis -> voxel axis
    source = [0, 0, 0]
    for lps_axis, voxel_axis in zip(rows, cols, strict=True):
        source[lps_axis] = int(voxel_axis)
    flipped = tuple(bool(direction[t, source[t]] < 0) for t in range(3))
    nk, nj, ni = shape_zyx
    return AxisMap((source[0], source[1], source[2]), flipped, (ni, nj, nk))  # type: ignore[arg-type]


def canonical(volume: CTVolume) -> CTVolume:
    """`volume` with its axes in patient order (see the module docstring); the same object
    when it already is."""
    amap = axis_map(volume.affine, volume.hu.shape)  # type: ignore[arg-type]
    if amap.identity:
        return volume
    hu = np.transpose(volume.hu, [2 - amap.source[t] for t in (2, 1, 0)])
    flips = [ax for ax, t in enumerate((2, 1, 0)) if amap.flipped[t]]
    hu = np.ascontiguousarray(np.flip(hu, flips) if flips else hu)
    affine = volume.affine @ _new_to_old(amap)
    interpolated, notes = _interpolated(volume, amap)
    return replace(
        volume,
        hu=hu,
        affine=affine,
        interpolated_slices=interpolated,
        orientation_label=_label(affine),
        axis_map=amap,
        warnings=[*volume.warnings, *notes],
    )


def _new_to_old(amap: AxisMap) -> np.ndarray:
    """4x4 matrix taking canonical voxel indices to stored ones."""
    m = np.zeros((4, 4))
    m[3, 3] = 1.0
    for t, s in enumerate(amap.source):
        if amap.flipped[t]:
            m[s, t], m[s, 3] = -1.0, amap.stored_shape[s] - 1
        else:
            m[s, t] = 1.0
    return m


def _interpolated(volume: CTVolume, amap: AxisMap) -> tuple[tuple[int, ...], list[str]]:
    """Interpolated slices in canonical k, when the stored slice axis stays the slice axis."""
    made = volume.interpolated_slices
    if not made:
        return (), []
    if amap.source[2] != 2:
        return (), [
            f"{len(made)} interpolated slice(s) lie across the analysed slice axis (a "
            f"{volume.orientation_label} stack): findings on them cannot be told apart"
        ]
    nk = amap.stored_shape[2]
    return tuple(sorted(nk - 1 - k for k in made)) if amap.flipped[2] else made, []


def _label(affine: np.ndarray) -> str:
    """axial when the analysed slice axis is the patient's head-foot axis."""
    k = affine[:3, 2] / np.linalg.norm(affine[:3, 2])
    normal = np.cross(affine[:3, 0], affine[:3, 1])
    normal = normal / np.linalg.norm(normal)
    return "axial" if abs(normal[2]) >= _AXIAL_COS and abs(k[2]) > 0 else "oblique"
