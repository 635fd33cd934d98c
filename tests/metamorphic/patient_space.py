"""An independent check that a variant folder shows the same patient-space image as its source.

Read with pydicom alone (not calcscan's loader, which is what the suite tests): every plane,
classic or a frame of an enhanced multi-frame image, with its position, cosines, spacing and
Hounsfield units. Planes are turned back into the source's in-plane orientation and matched
by position, and their HU must be equal voxel for voxel. A variant that fails here is a bug
of the variant writer, so calcscan is never blamed for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

POSITION_MM = 1e-3  # positions are rewritten as decimal strings of at most 16 characters


@dataclass(frozen=True)
class Plane:
    """One image plane: pixel (0, 0) at `position`, `row` along the columns' index, `col`
    along the rows' index, `steps` = (between rows, between columns) mm, `hu` (rows, columns)."""

    position: np.ndarray
    row: np.ndarray
    col: np.ndarray
    steps: np.ndarray
    hu: np.ndarray


@dataclass(frozen=True)
class Grid:
    """What the comparison of reports needs to know of a series: its voxel size."""

    voxel_mm: float  # the largest voxel side: "one voxel" for centroids
    voxel_mm3: float


def read_planes(folder: Path) -> list[Plane]:
    """Every plane under `folder`, whatever the transfer syntax or multi-frame layout."""
    planes: list[Plane] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        ds = pydicom.dcmread(path)
        planes.extend(_frames(ds) if "PerFrameFunctionalGroupsSequence" in ds else [_classic(ds)])
    return planes


def grid_of(planes: list[Plane]) -> Grid:
    """Voxel size: PixelSpacing and the median step between positions along the normal."""
    normal = np.cross(planes[0].row, planes[0].col)
    along = np.sort([float(normal @ p.position) for p in planes])
    step = float(np.median(np.diff(along)))
    dr, dc = (float(v) for v in planes[0].steps)
    return Grid(voxel_mm=max(dr, dc, step), voxel_mm3=dr * dc * step)


def same_image_problems(source: list[Plane], variant: list[Plane]) -> list[str]:
    """Why `variant` is not the patient-space image of `source` (empty when it is)."""
    if len(variant) != len(source):
        return [f"{len(variant)} planes, the source has {len(source)}"]
    positions = np.array([p.position for p in source])
    problems, matched = [], set()
    for plane in variant:
        plane = _aligned(plane, source[0].row, source[0].col)
        distance = np.linalg.norm(positions - plane.position, axis=1)
        k = int(np.argmin(distance))
        matched.add(k)
        if distance[k] > POSITION_MM:
            problems.append(f"plane at {np.round(plane.position, 3)} is at no source position")
        elif not _same_plane(source[k], plane):
            problems.append(f"plane at {np.round(plane.position, 3)}: other cosines, spacing or HU")
    if len(matched) != len(source):
        problems.append(f"{len(source) - len(matched)} source planes have no counterpart")
    return problems


def _classic(ds: Dataset) -> Plane:
    return _plane(ds, ds, ds, ds, ds.pixel_array)


def _frames(ds: Dataset) -> list[Plane]:
    """The frames of an enhanced image, each with its functional groups (per frame, else shared)."""
    shared = ds.SharedFunctionalGroupsSequence[0]
    pixels = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    planes = []
    for item, frame in zip(ds.PerFrameFunctionalGroupsSequence, pixels, strict=True):

        def group(keyword: str, item: Dataset = item) -> Dataset:
            found = item.get(keyword) or shared.get(keyword)
            return found[0]

        planes.append(
            _plane(
                group("PlanePositionSequence"),
                group("PlaneOrientationSequence"),
                group("PixelMeasuresSequence"),
                group("PixelValueTransformationSequence"),
                frame,
            )
        )
    return planes


def _plane(position: Dataset, orientation: Dataset, measures: Dataset, rescale: Dataset, stored) -> Plane:
    iop = np.asarray(orientation.ImageOrientationPatient, dtype=float)
    slope = float(rescale.get("RescaleSlope") or 1)
    intercept = float(rescale.get("RescaleIntercept") or 0)
    return Plane(
        position=np.asarray(position.ImagePositionPatient, dtype=float),
        row=iop[:3],
        col=iop[3:],
        steps=np.asarray(measures.PixelSpacing, dtype=float),
        hu=(np.asarray(stored, dtype=np.float64) * slope + intercept).astype(np.float32),
    )


def _aligned(plane: Plane, row: np.ndarray, col: np.ndarray) -> Plane:
    """`plane` transposed and flipped back so that its cosines are the source's `row`, `col`."""
    position, r, c, steps, hu = plane.position, plane.row, plane.col, plane.steps, plane.hu
    if abs(float(r @ row)) < 0.5:
        r, c, steps, hu = c, r, steps[::-1], hu.T
    if float(r @ row) < 0:
        position, r, hu = position + (hu.shape[1] - 1) * steps[1] * r, -r, hu[:, ::-1]
    if float(c @ col) < 0:
        position, c, hu = position + (hu.shape[0] - 1) * steps[0] * c, -c, hu[::-1, :]
    return Plane(position, r, c, steps, hu)


def _same_plane(a: Plane, b: Plane) -> bool:
    return (
        np.allclose(a.row, b.row, atol=1e-6)
        and np.allclose(a.col, b.col, atol=1e-6)
        and np.allclose(a.steps, b.steps, atol=1e-6)
        and a.hu.shape == b.hu.shape
        and np.array_equal(a.hu, b.hu)
    )
