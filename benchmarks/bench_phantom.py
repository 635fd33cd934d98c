"""Time phantom generation: `python benchmarks/bench_phantom.py [--size default] [--scenario tumoral]`.

Prints the seconds each stage took (anatomy, deposits, CT, radiograph, writing) and the
total, for every scenario asked for. The target for one default study is under 20 s on a
2-core CI machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline.phantom.generate import make_phantom, write
from pipeline.phantom.scenarios import SCENARIOS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="default", choices=["small", "sample", "default", "clinical"])
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compression", default="rle")
    args = parser.parse_args()
    for name in args.scenario or list(SCENARIOS):
        start = time.perf_counter()
        ph = make_phantom(name, args.seed, args.size)
        with tempfile.TemporaryDirectory() as tmp:
            write(ph, Path(tmp), args.compression)
            mb = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 2**20
        total = time.perf_counter() - start
        nz, ny, nx = ph.grid.shape
        stages = " ".join(f"{k}={v:.1f}s" for k, v in ph.timings.items())
        print(f"{name:20s} {args.size:8s} {nx}x{ny}x{nz} {mb:6.1f} MB  total={total:5.1f}s  {stages}")


if __name__ == "__main__":
    main()
