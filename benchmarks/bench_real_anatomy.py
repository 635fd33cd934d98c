"""How calcscan does on the shared real CTs (chest, chest with inserted calcinosis, contrast
upper abdomen), scored against their truth, with the time of each: `python -m
benchmarks.bench_real_anatomy` (part of `make bench`)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict

from tests.real_scoring import CHEST, CONTRAST, INSERTED, analysed, chest_score, contrast_score


def main() -> int:
    out = {}
    for name, folder in (("chest", CHEST), ("chest_inserted", INSERTED), ("contrast_abdomen", CONTRAST)):
        started = time.perf_counter()
        result = analysed(folder)
        seconds = time.perf_counter() - started
        if folder is CONTRAST:
            score = asdict(contrast_score(result))
        else:
            inserted = json.loads((INSERTED / "truth.json").read_text()) if folder is INSERTED else None
            score = asdict(chest_score(result, inserted))
        score["seconds"] = round(seconds, 2)
        out[name] = score
        print(name, json.dumps(score, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
