"""Score a segmentation of a phantom against its ground truth (tests and benchmarks).

A detected deposit is a true one when its voxels overlap a truth deposit's mask; a truth
deposit is found when some detected deposit overlaps it; volumes are compared with the
truth mask's volume (the definition in truth.json).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.models import CTVolume, Deposit, Segmentation
from pipeline.phantom.generate import Phantom


@dataclass
class Scored:
    """A phantom, its segmentation, and which detected deposit is which truth deposit."""

    phantom: Phantom
    segmentation: Segmentation
    truth_of: dict[int, list[int]]  # detected label -> truth deposits it overlaps, most voxels first
    truth_volume_mm3: dict[int, float]  # truth deposit number -> volume of its mask

    def detected(self, number: int) -> list[Deposit]:
        return [d for d in self.segmentation.deposits if number in self.truth_of[d.label]]

    def main_truth(self, deposit: Deposit):
        """The truth deposit (PlacedDeposit) this detection overlaps most, or None."""
        hits = self.truth_of[deposit.label]
        return next(d for d in self.phantom.deposits if d.number == hits[0]) if hits else None

    def false_positives(self) -> list[Deposit]:
        return [d for d in self.segmentation.deposits if not self.truth_of[d.label]]

    def rows(self) -> list[tuple[float, float | None]]:
        """(truth volume, detected volume or None) for every truth deposit."""
        out = []
        for number, volume in self.truth_volume_mm3.items():
            found = self.detected(number)
            out.append((volume, sum(d.volume_mm3 for d in found) if found else None))
        return out


def phantom_volume(ph: Phantom) -> CTVolume:
    """The phantom as the loader would hand it over from the written study (its
    BodyPartExamined; a contrast agent named on the enhanced study)."""
    return CTVolume(
        hu=ph.hu,
        affine=np.asarray(ph.grid.affine),
        study_uid=f"phantom-{ph.scenario.name}-{ph.seed}",
        series_uid=f"phantom-{ph.scenario.name}-{ph.seed}-ct",
        stack_label=f"{ph.scenario.name} seed {ph.seed}",
        frame_of_reference_uid=None,
        kvp=120.0,
        body_part_examined=ph.scenario.body_part,
        contrast_agent="IOHEXOL" if ph.scenario.name == "contrast" else None,
        slice_thickness=None,
    )


def score(ph: Phantom, seg: Segmentation) -> Scored:
    truth = ph.deposit_labels()
    voxel = float(abs(np.linalg.det(np.asarray(ph.grid.affine)[:3, :3])))
    truth_of = {}
    for d in seg.deposits:
        (i0, j0, k0), (i1, j1, k1) = d.bbox_ijk
        mine = seg.labels[k0:k1, j0:j1, i0:i1] == d.label
        hit, counts = np.unique(truth[k0:k1, j0:j1, i0:i1][mine], return_counts=True)
        order = np.argsort(-counts, kind="stable")
        truth_of[d.label] = [int(hit[i]) for i in order if hit[i] > 0]
    volumes = {dep.number: float((truth == dep.number).sum() * voxel) for dep in ph.deposits}
    return Scored(ph, seg, truth_of, volumes)


def sensitivity(rows: list[tuple[float, float | None]], smallest: float) -> float | None:
    big = [found for volume, found in rows if volume >= smallest]
    return sum(found is not None for found in big) / len(big) if big else None


def volume_errors(rows: list[tuple[float, float | None]], smallest: float) -> list[float]:
    found = [(volume, f) for volume, f in rows if volume >= smallest and f is not None]
    return [abs(f - volume) / volume for volume, f in found]
