"""Display geometry of the key images: a CT volume turned to the radiological convention.

The array's axes say nothing about the patient; only the affine does. `DisplayFrame` works out
from the affine which array axis runs along which patient axis and in which sense, so that
every view is cut from one canonical array indexed [z, y, x] with +x towards the patient's
left, +y posterior and +z head (LPS). Then the radiological convention is plain slicing:

- axial: rows anterior (top) to posterior, columns patient's right (viewer's left) to left;
- coronal: rows superior (top) to inferior, columns patient's right to left.

Views carry their own pixel spacing, so that drawing can give them square millimetres.
An oblique or tilted volume is shown along its nearest patient axes and says so.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from pipeline.models import CTVolume

OBLIQUE_TOLERANCE_DEG = 1.0  # further off a patient axis, the page warns that labels are approximate


@dataclass(frozen=True)
class View:
    """A 2D image ready for display: pixels[row, col] and what lies at each edge."""

    pixels: np.ndarray
    row_mm: float  # spacing between rows
    col_mm: float  # spacing between columns
    top: str
    bottom: str
    left: str
    right: str


@dataclass(frozen=True)
class DisplayFrame:
    """How a volume's array maps onto the canonical [z, y, x] (S, P, L) array.

    `axes[c]` is the array axis that becomes canonical axis c, `flip[c]` whether it runs the
    other way, `spacing[c]` its spacing in mm, `shape[c]` its length.
    """

    axes: tuple[int, int, int]
    flip: tuple[bool, bool, bool]
    spacing: tuple[float, float, float]
    shape: tuple[int, int, int]
    off_axis_deg: float  # largest angle between an array axis and its patient axis

    @classmethod
    def of(cls, volume: CTVolume) -> DisplayFrame:
        return cls.from_affine(volume.affine, volume.hu.shape)

    @classmethod
    def from_affine(cls, affine: np.ndarray, shape: tuple[int, ...]) -> DisplayFrame:
        """Assign each voxel axis (i, j, k) to the patient axis it runs closest to."""
        matrix = np.asarray(affine, dtype=float)[:3, :3]
        norms = np.linalg.norm(matrix, axis=0)
        cosines = matrix / norms  # column a: direction of voxel axis a in LPS
        lps_of_voxel = _best_assignment(np.abs(cosines))
        axes, flip, spacing, size = [], [], [], []
        for lps_axis in (2, 1, 0):  # canonical order z (S), y (P), x (L)
            voxel_axis = lps_of_voxel.index(lps_axis)
            array_axis = 2 - voxel_axis  # the array is indexed [k, j, i]
            axes.append(array_axis)
            flip.append(bool(cosines[lps_axis, voxel_axis] < 0))
            spacing.append(float(norms[voxel_axis]))
            size.append(int(shape[array_axis]))
        chosen = [abs(cosines[lps_of_voxel[a], a]) for a in range(3)]
        worst = math.degrees(math.acos(min(1.0, min(chosen))))
        return cls(tuple(axes), tuple(flip), tuple(spacing), tuple(size), worst)  # type: ignore[arg-type]

    @property
    def oblique(self) -> bool:
        return self.off_axis_deg > OBLIQUE_TOLERANCE_DEG

    def canonical(self, array: np.ndarray) -> np.ndarray:
        """A view (no copy) of a volume-shaped array as [z, y, x] with +x L, +y P, +z S."""
        out = np.transpose(array, self.axes)
        index = tuple(slice(None, None, -1) if f else slice(None) for f in self.flip)
        return out[index]

    def to_canonical(self, ijk: tuple[float, float, float]) -> tuple[float, float, float]:
        """Voxel indices (i, j, k) -> canonical indices (z, y, x)."""
        array_index = (ijk[2], ijk[1], ijk[0])
        out = []
        for c in range(3):
            value = float(array_index[self.axes[c]])
            out.append(self.shape[c] - 1 - value if self.flip[c] else value)
        return out[0], out[1], out[2]

    def to_voxel(self, zyx: tuple[float, float, float]) -> tuple[float, float, float]:
        """Canonical indices (z, y, x) -> voxel indices (i, j, k): `to_canonical` undone."""
        array_index = [0.0, 0.0, 0.0]
        for c in range(3):
            value = float(zyx[c])
            array_index[self.axes[c]] = self.shape[c] - 1 - value if self.flip[c] else value
        return array_index[2], array_index[1], array_index[0]

    def box_to_canonical(
        self, bbox_ijk: tuple[tuple[int, int, int], tuple[int, int, int]]
    ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """An (inclusive min, exclusive max) voxel box -> the same box in canonical indices."""
        lo = self.to_canonical(tuple(float(v) for v in bbox_ijk[0]))  # type: ignore[arg-type]
        hi = self.to_canonical(tuple(float(v) - 1 for v in bbox_ijk[1]))  # type: ignore[arg-type]
        start = tuple(int(min(a, b)) for a, b in zip(lo, hi, strict=True))
        stop = tuple(int(max(a, b)) + 1 for a, b in zip(lo, hi, strict=True))
        return start, stop  # type: ignore[return-value]


def _best_assignment(abs_cosines: np.ndarray) -> list[int]:
    """lps_of_voxel[a]: the patient axis of voxel axis a, one each, most aligned overall."""
    best = max(
        itertools.permutations(range(3)),
        key=lambda p: sum(abs_cosines[p[a], a] for a in range(3)),
    )
    return list(best)


def axial_view(frame: DisplayFrame, array: np.ndarray, z: int) -> View:
    """Canonical slice z: anterior at the top, the patient's right on the viewer's left."""
    pixels = frame.canonical(array)[z]
    return View(pixels, frame.spacing[1], frame.spacing[2], "A", "P", "R", "L")


def coronal_mip(frame: DisplayFrame, array: np.ndarray) -> View:
    """Maximum along anterior-posterior: superior at the top, patient's right on the left."""
    pixels = frame.canonical(array).max(axis=1)[::-1]
    return View(pixels, frame.spacing[0], frame.spacing[2], "S", "I", "R", "L")


def coronal_position(frame: DisplayFrame, ijk: tuple[float, float, float]) -> tuple[float, float]:
    """(row, col) of a voxel position in `coronal_mip`'s pixels."""
    z, _, x = frame.to_canonical(ijk)
    return frame.shape[0] - 1 - z, x


def deposit_slice(frame: DisplayFrame, labels: np.ndarray, label: int, centroid_z: float, box) -> int:
    """The canonical axial slice to show a deposit on: its centroid's slice when the deposit
    is there (a curved deposit's centroid may lie outside it), else its largest slice."""
    start, stop = box
    region = frame.canonical(labels)[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]]
    counts = (region == label).sum(axis=(1, 2))
    z = round(centroid_z)
    if start[0] <= z < stop[0] and counts[z - start[0]] > 0:
        return z
    if counts.size == 0 or counts.max() == 0:
        return min(max(z, 0), frame.shape[0] - 1)
    return start[0] + int(np.argmax(counts))


OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "H": "F", "F": "H"}


def radiograph_edges(orientation: tuple[str, str] | None) -> tuple[str, str, str, str] | None:
    """(top, bottom, left, right) letters from DICOM PatientOrientation, None when unknown.

    PatientOrientation's first value is the direction of increasing column index (along a
    row), the second of increasing row index; each is one or more of L R A P H F.
    """
    if not orientation or len(orientation) != 2:
        return None
    row_dir, col_dir = (str(v).strip().upper() for v in orientation)
    if not row_dir or not col_dir or any(ch not in OPPOSITE for ch in row_dir + col_dir):
        return None
    top = "".join(OPPOSITE[ch] for ch in col_dir)
    left = "".join(OPPOSITE[ch] for ch in row_dir)
    return top, col_dir, left, row_dir
