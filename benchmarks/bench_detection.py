"""Detection figures of the segmentation stage on the phantom suite (issue 4's targets).

Sensitivity by deposit size, false positives per study, volume error and the time of
segmentation and site mapping, over every
scenario and negative control for the given seeds and size. Writes
benchmarks/results_detection_<size>.json and prints a table.
Run: .venv/bin/python benchmarks/bench_detection.py --size default --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pipeline.anatomy import map_sites
from pipeline.phantom.generate import make_phantom
from pipeline.phantom.scenarios import SCENARIOS
from pipeline.phantom.score import phantom_volume, score, sensitivity, volume_errors
from pipeline.segment import segment_ct

BANDS_MM3 = (10.0, 30.0, 100.0, 300.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    rows, fps, studies = [], [], []
    for seed in args.seeds:
        for name in SCENARIOS:
            ph = make_phantom(name, seed, args.size)
            started = time.perf_counter()
            scored = score(ph, segment_ct(phantom_volume(ph)))
            seconds = time.perf_counter() - started
            started = time.perf_counter()
            map_sites(scored.segmentation)
            mapping = time.perf_counter() - started
            rows += scored.rows()
            fps += scored.false_positives()
            found = sum(v is not None for _, v in scored.rows())
            studies.append({"scenario": name, "seed": seed, "seconds": round(seconds, 1),
                            "site_mapping_seconds": round(mapping, 2),
                            "found": found, "truth": len(scored.rows()),
                            "false_positives": len(scored.false_positives())})  # fmt: skip
            print(f"{name:20s} seed {seed}: {found}/{len(scored.rows())} found, "
                  f"{len(scored.false_positives())} FP, {seconds:.0f} s", flush=True)  # fmt: skip
    result = {
        "size": args.size,
        "seeds": args.seeds,
        "studies": studies,
        "false_positives_per_study": len(fps) / len(studies),
        "bands": {
            f">={lo:g}mm3": {
                "n": sum(v >= lo for v, _ in rows),
                "sensitivity": sensitivity(rows, lo),
                "median_volume_error": float(np.median(volume_errors(rows, lo)))
                if volume_errors(rows, lo)
                else None,
            }
            for lo in BANDS_MM3
        },
    }
    out = Path(__file__).with_name(f"results_detection_{args.size}.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["bands"], indent=2), f"\nFP per study {result['false_positives_per_study']:.2f}")


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


if __name__ == "__main__":
    main()
