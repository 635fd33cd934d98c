"""Deposits made by hand from a label map, for tests of the stages after segmentation
(SEG frames, site mapping) that need a `Deposit` without running the segmentation."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.models import CTVolume, Deposit


def deposit_from_voxels(label: int, kji: np.ndarray, volume: CTVolume | None = None, **site: Any) -> Deposit:
    """A Deposit over voxels `kji` (k, j, i); measured on `volume` when given, else with
    placeholder measurements. `site` sets region, laterality and tissue."""
    ijk = kji.mean(axis=0)[::-1]
    values = volume.hu[tuple(kji.T)] if volume is not None else np.array([300.0, 400.0])
    return Deposit(
        label=label,
        series_uid=volume.series_uid if volume is not None else "1.2.3",
        stack_label=volume.stack_label if volume is not None else "1",
        n_voxels=len(kji),
        volume_mm3=len(kji) * volume.voxel_volume_mm3 if volume is not None else 1.0,
        max_hu=float(values.max()),
        mean_hu=float(values.mean()),
        agatston=0.0,
        mass_mg=None,
        equivalent_diameter_mm=1.0,
        largest_axial_area_mm2=1.0,
        centroid_ijk=tuple(ijk),
        centroid_lps_mm=tuple(volume.index_to_lps(ijk)[0]) if volume is not None else (0.0, 0.0, 0.0),
        bbox_ijk=(tuple(kji.min(axis=0)[::-1]), tuple(kji.max(axis=0)[::-1] + 1)),
        lobes=1,
        **site,
    )
