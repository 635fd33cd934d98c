"""calcscan runs of the metamorphic suite: the original once per seed, each variant once.

Runs are what the suite costs, so each original is run once per session and reused by all
of its variants, and only the current seed's decoded series is kept in memory (the test ids
are ordered seed by seed).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import calcscan
from tests.metamorphic.compare import read_report
from tests.metamorphic.patient_space import Grid, Plane, grid_of, read_planes, same_image_problems
from tests.metamorphic.seeds import Seed
from tests.metamorphic.variants import Slice, identity_problems, read_series, write_variant


@dataclass(frozen=True)
class Outcome:
    """One calcscan run: its report (None when it has none), why not, and its wall time."""

    report: dict | None
    problem: str
    seconds: float


@dataclass
class SeedData:
    """A seed's series as the variants need it, and its original's outcome."""

    folder: Path
    slices: list[Slice]
    planes: list[Plane]
    grid: Grid
    original: Outcome


class Runs:
    """The session's runs under `root` (pytest's tmp_path: variants are never written elsewhere)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._current: tuple[str, SeedData] | None = None

    def seed(self, seed: Seed) -> SeedData:
        """The seed's series, read and run once (the previous seed's is let go)."""
        if self._current is None or self._current[0] != seed.name:
            self._current = None  # free the previous series before reading the next
            folder = seed.ct_folder(self.root)
            planes = read_planes(folder)
            original = self._run(folder, self.root / seed.name / "original-out")
            self._current = (
                seed.name,
                SeedData(folder, read_series(folder), planes, grid_of(planes), original),
            )
        return self._current[1]

    def variant(self, seed: Seed, variant: str) -> Outcome:
        """Write the variant (checked to be the same patient-space image), then run calcscan on it.

        Raises VariantUnavailable when the machine cannot write it, NotApplicable when the seed
        cannot be stored that way exactly.
        """
        data = self.seed(seed)
        folder = write_variant(data.slices, variant, self.root / seed.name / variant)
        problems = same_image_problems(data.planes, read_planes(folder))
        if variant != "enhanced":  # one new instance by design
            problems += identity_problems(data.folder, folder)
        assert not problems, f"variant writer bug, not calcscan's: {variant}: {problems[:5]}"
        return self._run(folder, self.root / seed.name / f"{variant}-out")

    def _run(self, folder: Path, out: Path) -> Outcome:
        start = time.perf_counter()
        done = calcscan("run", folder, "-o", out, "--no-dicom", "--workers", "0")
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            return Outcome(None, _failure(done.returncode, done.stderr, out), seconds)
        return Outcome(read_report(out), "", seconds)


def _failure(code: int, stderr: str, out: Path) -> str:
    """Why a run has no report: its exit code, the end of stderr and run.json's study status."""
    studies = ""
    if (out / "run.json").exists():
        run = json.loads((out / "run.json").read_text())
        studies = "; ".join(f"{s.get('status')}: {s.get('reason')}" for s in run.get("studies", []))
    return f"calcscan exit code {code}; studies: {studies or 'none'}; stderr: {stderr[-800:]}"
