"""Segmentation speed on a clinical-size CT (issue 4: 512 x 512 x 400 well under a minute).

Generates a phantom at the `clinical` size, keeps 400 slices, and times segment_ct. Writes
benchmarks/results_segment.json. Run: .venv/bin/python benchmarks/bench_segment.py
"""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

from pipeline.models import CTVolume
from pipeline.phantom.generate import make_phantom
from pipeline.segment import segment_ct

SLICES = 400


def main() -> None:
    phantom = make_phantom("tumoral", seed=0, size="clinical")
    hu = np.ascontiguousarray(phantom.hu[-SLICES:])  # shoulders to pelvis
    affine = np.asarray(phantom.grid.affine).copy()
    affine[:3, 3] = affine[:3, :3] @ [0, 0, phantom.hu.shape[0] - SLICES] + affine[:3, 3]
    volume = CTVolume(
        hu=hu,
        affine=affine,
        study_uid="bench",
        series_uid="bench",
        stack_label="bench",
        frame_of_reference_uid=None,
        kvp=120.0,
        body_part_examined=None,
        contrast_agent=None,
        slice_thickness=None,
    )
    del phantom
    started = time.perf_counter()
    segmentation = segment_ct(volume)
    seconds = time.perf_counter() - started
    result = {
        "shape_zyx": list(hu.shape),
        "spacing_xyz_mm": [round(v, 4) for v in volume.spacing],
        "segment_seconds": round(seconds, 2),
        "deposits": len(segmentation.deposits),
        "work_grid_factors": list(segmentation.grid.factors),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
    }
    out = Path(__file__).with_name("results_segment.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
