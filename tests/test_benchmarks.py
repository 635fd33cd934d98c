"""The performance benchmark (`make bench`) on its smoke workload: it must keep working as the
pipeline changes, even though the full benchmark is too slow for `make test`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BENCH = REPO / "benchmarks" / "bench_performance.py"
SECTIONS = ("floor", "run", "throughput", "slices", "radiograph")


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and value > 0


@pytest.mark.slow
def test_smoke_benchmark_writes_every_section(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--smoke",
            "--repeat",
            "1",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(SECTIONS) <= results.keys()
    assert not [s for s in SECTIONS if "error" in results[s]], [results[s].get("error") for s in SECTIONS]
    assert results["machine"]["logical_cores"] >= 1 and results["machine"]["versions"]["SimpleITK"]

    floor = results["floor"]["main"]["seconds"]
    assert _positive(floor["sitk_read"]["median"]) and _positive(floor["load"]["median"])
    assert _positive(results["run"]["main"]["wall_s"]["median"])
    workers = results["throughput"]["workers"]
    assert _positive(workers["1"]["studies_per_hour"]) and _positive(workers["2"]["studies_per_hour"])
    assert [c["slices"] for c in results["slices"]["counts"]] == [10, 20, 30]
    assert _positive(results["radiograph"]["seconds"]["sitk_read"]["median"])

    assert len(results["targets"]) == 5
    for name, target in results["targets"].items():
        assert {"value", "limit", "met"} <= target.keys(), name
        assert isinstance(target["met"], bool), name

    table = (tmp_path / "results.md").read_text()
    assert "| Measure | Workload | Median | Min | Ratio | Target | Met |" in table
    assert table.strip() in done.stdout
