"""A seeded corpus of mutated DICOM studies (tests/fuzz), run through `calcscan run` as one
batch: the batch finishes, the clean sentinel is analysed, no Python leaks into what a reader
sees, every file is accounted for once, every malformed study is noticed, studies whose
images are fine are analysed, and no input is touched.

CALCSCAN_FUZZ_N sets the number of studies (default 1000: about 4 minutes on 2 cores;
`make fuzz` runs 10,000 through `python -m tests.fuzz`), CALCSCAN_FUZZ_SEED the corpus seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_shared
from tests.fuzz.checks import (
    Outcome,
    Problem,
    RunResult,
    check_accounting,
    check_analysed,
    check_finished,
    check_inputs_unchanged,
    check_noticed,
    check_python_text,
    check_sentinel,
    check_workers,
    format_problems,
    group_problems,
    outcomes,
    run_calcscan,
)
from tests.fuzz.corpus import FIRST_MUTANT, build_corpus, tree_checksums
from tests.fuzz.mutations import CATALOGUE
from tests.fuzz.seeds import build_seeds, missing_sources

N = int(os.environ.get("CALCSCAN_FUZZ_N", "1000"))
SEED = int(os.environ.get("CALCSCAN_FUZZ_SEED", "1"))


@dataclass
class FuzzRun:
    corpus: Path
    manifest: dict[str, Any]
    result: RunResult
    found: dict[str, Outcome]
    before: dict[str, str]
    after: dict[str, str]


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory: pytest.TempPathFactory) -> FuzzRun:
    """The corpus, built once and run once as a single batch (2 workers, 120 s per study)."""
    for path in missing_sources():
        require_shared(path)
    root = tmp_path_factory.mktemp("fuzz")
    manifest = build_corpus(root, N, SEED)
    corpus = root / "corpus"
    before = tree_checksums(corpus)
    result = run_calcscan(corpus, root / "out", workers=2, study_timeout=120)
    (root / "stderr.txt").write_text(result.stderr, encoding="utf-8")  # beside manifest.json and out/
    print(f"fuzz: {N} studies in {result.seconds:.0f} s ({result.seconds / N:.3f} s per study), {root}")
    found = outcomes(result, manifest, corpus)
    return FuzzRun(corpus, manifest, result, found, before, tree_checksums(corpus))


def assert_none(problems: list[Problem], what: str) -> None:
    """Fail with one line per failure class (count, mutation, what happened, an example)."""
    if problems:
        n_classes = len(group_problems(problems))
        pytest.fail(f"{what}: {len(problems)} problems in {n_classes} classes\n{format_problems(problems)}")


def needs_run_json(run: FuzzRun) -> None:
    if run.result.run is None:
        pytest.fail(
            f"no run.json to check ({run.result.run_error}); stderr ends:\n{run.result.stderr[-3000:]}"
        )


def test_batch_finishes_with_the_contract_exit_code(fuzz_run: FuzzRun) -> None:
    assert_none(check_finished(fuzz_run.result), "the batch did not finish as the contract says")


def test_sentinel_study_is_analysed(fuzz_run: FuzzRun) -> None:
    needs_run_json(fuzz_run)
    assert_none(check_sentinel(fuzz_run.found, fuzz_run.manifest), "the clean sentinel study")


def test_no_python_errors_reach_the_outputs(fuzz_run: FuzzRun) -> None:
    """No traceback on stderr; no exception names or raw messages in reasons and warnings."""
    needs_run_json(fuzz_run)
    problems = check_python_text(fuzz_run.result, fuzz_run.corpus, fuzz_run.manifest)
    assert_none(problems, "Python text where a sentence is owed")


def test_every_file_is_accounted_for_once(fuzz_run: FuzzRun) -> None:
    needs_run_json(fuzz_run)
    problems = check_accounting(fuzz_run.result, fuzz_run.corpus, fuzz_run.manifest)
    assert_none(problems, "files not used and not listed, or listed twice")


def test_every_malformed_study_is_noticed(fuzz_run: FuzzRun) -> None:
    """Failed with a reason, analysed with a warning, or a file skipped with a reason."""
    needs_run_json(fuzz_run)
    assert_none(check_noticed(fuzz_run.found, fuzz_run.manifest), "malformed studies passed silently")


def test_studies_with_good_images_are_analysed(fuzz_run: FuzzRun) -> None:
    """Odd names, junk beside the images, odd character sets, a second series: analysed."""
    needs_run_json(fuzz_run)
    assert_none(check_analysed(fuzz_run.found, fuzz_run.manifest), "studies with good images not analysed")


def test_no_study_hangs_or_loses_its_worker(fuzz_run: FuzzRun) -> None:
    needs_run_json(fuzz_run)
    assert_none(check_workers(fuzz_run.found, fuzz_run.manifest), "studies that hung or crashed a worker")


def test_no_input_file_changes(fuzz_run: FuzzRun) -> None:
    assert_none(check_inputs_unchanged(fuzz_run.before, fuzz_run.after), "inputs changed by the run")


def test_same_seed_same_corpus(tmp_path: Path) -> None:
    """The corpus is a pure function of its seed (and the read-only sources): a failure seen
    once can be rebuilt byte for byte. Every catalogue entry is built once here."""
    for path in missing_sources():
        require_shared(path)
    seeds = build_seeds()
    n = FIRST_MUTANT + len(CATALOGUE)
    first = build_corpus(tmp_path / "a", n, SEED, seeds)
    second = build_corpus(tmp_path / "b", n, SEED, seeds)
    other = build_corpus(tmp_path / "c", FIRST_MUTANT + 20, SEED + 1, seeds)
    assert tree_checksums(tmp_path / "a" / "corpus") == tree_checksums(tmp_path / "b" / "corpus")
    assert first["mutants"] == second["mutants"]
    assert {m["variant"].split("+")[0] for m in first["mutants"][FIRST_MUTANT:]} == {
        m.variant for m in CATALOGUE
    }
    a, c = tree_checksums(tmp_path / "a" / "corpus"), tree_checksums(tmp_path / "c" / "corpus")
    assert any(a.get(path) != digest for path, digest in c.items()), "another seed gives another corpus"
    assert other["seed"] == SEED + 1
