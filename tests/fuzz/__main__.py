"""`python -m tests.fuzz --n 10000 --seed 1`: build a corpus, run it as one batch, check it.

Prints one line per failure class and copies one mutant folder per class to ROOT/examples
(or --examples DIR), with the command that reruns it, so that a failure found among ten
thousand studies can be rerun alone. Exit status 1 when any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.fuzz.checks import (
    LOST_WORKER,
    Problem,
    RunResult,
    all_problems,
    format_problems,
    group_problems,
    run_calcscan,
)
from tests.fuzz.corpus import build_corpus, tree_checksums
from tests.fuzz.seeds import missing_sources


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    missing = missing_sources()
    if missing:
        print(f"fuzz: seed sources missing: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    root = Path(args.root or tempfile.mkdtemp(prefix="calcscan-fuzz-"))
    started = time.monotonic()
    manifest = build_corpus(root, args.n, args.seed)
    corpus = root / "corpus"
    print(
        f"fuzz: {args.n} studies (seed {args.seed}) in {corpus}, built in {time.monotonic() - started:.0f} s"
    )
    before = tree_checksums(corpus)
    result = run_calcscan(corpus, root / "out", args.workers, args.study_timeout, memory_gb=args.memory_gb)
    print(
        f"fuzz: calcscan run took {result.seconds:.0f} s ({result.seconds / args.n:.3f} s per study), "
        f"exit code {result.returncode}"
    )
    print(tally(result))
    problems = all_problems(result, manifest, corpus, before, tree_checksums(corpus))
    (root / "problems.json").write_text(
        json.dumps([asdict(p) for p in problems], indent=1, ensure_ascii=False), encoding="utf-8"
    )
    (root / "stderr.txt").write_text(result.stderr, encoding="utf-8")
    print(format_problems(problems, limit=400) or "fuzz: no problems")
    if problems:
        examples = Path(args.examples) if args.examples else root / "examples"
        keep_examples(problems, manifest, corpus, examples)
        print(f"fuzz: one example per failure class in {examples}")
    print(f"fuzz: corpus, manifest.json, out/, problems.json in {root}")
    return 1 if problems else 0


def tally(result: RunResult) -> str:
    """The figures the README quotes: studies tried, failed with a reason, analysed with a
    warning, crashed (a worker lost) and hung (stopped by --study-timeout)."""
    if result.run is None:
        return f"fuzz: no run.json ({result.run_error})"
    studies = result.run.get("studies", [])
    status = [s.get("status") for s in studies]
    warned = sum(1 for s in studies if s.get("status") == "analyzed" and _has_warnings(result, s))
    reasons = [str(s.get("reason") or "") for s in studies if s.get("status") == "failed"]
    crashed = sum(1 for r in reasons if LOST_WORKER.search(r) and "stopped after" not in r)
    hung = sum(1 for r in reasons if "stopped after" in r)
    return (
        f"fuzz: {len(studies)} studies tried: {status.count('analyzed')} analysed ({warned} with a "
        f"warning), {status.count('failed')} failed with a reason, {status.count('skipped')} skipped; "
        f"crashed {crashed}, hung {hung}; {len(result.run.get('skipped_files', []))} files not used, "
        f"each with its reason; exit code {result.returncode}"
    )


def _has_warnings(result: RunResult, study: dict[str, Any]) -> bool:
    report = result.reports.get(str(study.get("report")), {})
    return bool(report.get("warnings") or any(s.get("warnings") for s in report.get("series", [])))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="number of studies [1000]")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed [1]")
    parser.add_argument("--root", help="folder for corpus/, manifest.json and out/ [a new temporary one]")
    parser.add_argument("--workers", type=int, default=2, help="calcscan --workers [2]")
    parser.add_argument("--study-timeout", type=float, default=120, help="calcscan --study-timeout [120]")
    parser.add_argument(
        "--memory-gb", type=float, default=8, help="address space cap per process [8]; 0: none"
    )
    parser.add_argument("--examples", help="copy one mutant folder per failure class here [ROOT/examples]")
    return parser


def keep_examples(problems: list[Problem], manifest: dict[str, Any], corpus: Path, dest: Path) -> None:
    """One mutant folder per failure class under dest/<check>__<family>__<variant>/, with
    its problem, its manifest entry (seed, mutations and their parameters) and the command
    that reruns it."""
    dest.mkdir(parents=True, exist_ok=True)
    entries = {m["folder"]: m for m in manifest["mutants"]}
    for (check, variant, what), members in group_problems(problems):
        example = next((p for p in members if p.folder), None)
        if example is None or not (corpus / example.folder).is_dir():
            continue
        name = f"{check}__{variant.replace('/', '__')}"
        target = dest / name
        if target.exists():
            name += f"__{len(list(dest.glob(name + '*')))}"
            target = dest / name
        copy_tree(corpus / example.folder, target / example.folder)
        (target / "PROBLEM.txt").write_text(
            f"check: {check}\nmutation: {variant}\nwhat: {what}\nfolder: {example.folder}\n"
            f"path: {example.path}\ndetail: {example.detail}\nclass size: {len(members)}\n\n"
            f"rerun: calcscan run '{target / example.folder}' -o /tmp/out-{name} --workers 1 --no-dicom\n\n"
            f"manifest entry:\n{json.dumps(entries.get(example.folder), indent=1, ensure_ascii=False)}\n",
            encoding="utf-8",
        )


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a mutant folder as it is: symlinks as links, FIFOs as new FIFOs (never opened)."""
    dst.mkdir(parents=True)
    for entry in os.scandir(src):
        target = dst / entry.name
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(entry.path), target)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(target)
        elif stat.S_ISDIR(mode):
            copy_tree(Path(entry.path), target)
        else:
            shutil.copy2(entry.path, target)


if __name__ == "__main__":
    sys.exit(main())
