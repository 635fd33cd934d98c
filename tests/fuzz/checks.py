"""The run's outputs against the corpus manifest: what every check expects, and why.

Every check returns a list of `Problem`s rather than asserting, so that one run of a large
corpus reports every failure class at once (grouped by `group_problems`), and the pytest
test and `python -m tests.fuzz` share the same judgement.
"""

from __future__ import annotations

import csv
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fuzz.corpus import walk_entries
from tests.fuzz.seeds import REPO

# raw Python in a text meant for people: an exception's class name, or a message only the
# interpreter, numpy or pydicom's decoder plumbing writes (pydicom's "Unable to decode as
# exceptions were raised by all available plugins:" ends in a colon and says nothing)
PYTHON_TEXT = re.compile(
    r"\b\w+(?:Error|Exception)\b|Traceback|cannot convert float NaN|invalid literal for int"
    r"|object has no attribute|index -?\d+ is out of bounds|NoneType|not subscriptable"
    r"|unsupported operand|positional argument|unexpected keyword|division by zero|math domain error"
    r"|cannot reshape array|buffer is smaller than|could not broadcast|out of range float"
    r"|exceptions were raised by all available plugins"
)
TRACEBACK = "Traceback (most recent call last)"
# keys of run.json whose values are names and paths the run was given, not its own words
NOT_PROSE = {"config", "inputs", "path", "key", "report", "report_html", "source_folders", "tool", "outputs"}
LOST_WORKER = re.compile(r"stopped after|killed by|worker process|out of memory", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    """One thing the run got wrong: the check, the mutant (folder and variant, empty when
    run-wide), a short class (`what`) and the specifics."""

    check: str
    what: str
    detail: str = ""
    folder: str = ""
    variant: str = ""
    path: str = ""


@dataclass
class RunResult:
    """The batch run and what it wrote."""

    returncode: int | None  # None: still running at the overall timeout (killed)
    stdout: str
    stderr: str
    seconds: float
    out: Path
    run: dict[str, Any] | None = None
    run_error: str | None = None
    summary: list[dict[str, str]] = field(default_factory=list)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # by run.json's `report`


@dataclass
class Outcome:
    """What the run made of one mutant folder."""

    studies: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


# --- running ------------------------------------------------------------------------------


def run_calcscan(
    corpus: Path,
    out: Path,
    workers: int = 2,
    study_timeout: float = 120,
    timeout: float | None = None,
    memory_gb: float = 8,
) -> RunResult:
    """`calcscan run CORPUS -o OUT` as a user runs it, in one batch.

    Address space is capped (`memory_gb` per process, 0 = no cap) so that a header claiming
    800 GB makes an allocation fail in that worker instead of waking the OOM killer on a
    shared machine; the overall timeout (default: 2 minutes plus 1 s per study folder)
    catches a batch that hangs despite --study-timeout.
    """
    n = sum(1 for _ in corpus.iterdir())
    timeout = timeout or 120 + 1.0 * n
    cmd = [sys.executable, "-m", "pipeline", "run", str(corpus), "-o", str(out), "--workers", str(workers)]
    cmd += ["--no-dicom", "--study-timeout", str(study_timeout)]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,  # one process group: the run and its workers, killed together
        preexec_fn=_limit_memory(memory_gb),
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        code = None
    result = RunResult(code, stdout, stderr, time.monotonic() - started, out)
    _load_outputs(result)
    return result


def _limit_memory(memory_gb: float):
    def limit() -> None:
        if memory_gb > 0:
            size = int(memory_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return limit


def _load_outputs(result: RunResult) -> None:
    try:
        result.run = json.loads((result.out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        result.run_error = f"{type(exc).__name__}: {exc}"
        return
    try:
        with open(result.out / "summary.csv", encoding="utf-8", newline="") as fp:
            result.summary = list(csv.DictReader(fp))
    except OSError:
        result.summary = []
    for study in result.run.get("studies", []):
        if study.get("report"):
            path = result.out / study["report"]
            try:
                result.reports[study["report"]] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                result.reports[study["report"]] = {}


# --- mapping outputs to mutants -------------------------------------------------------------


def folder_of(path: str, corpus: Path) -> str:
    """The mutant folder (first component under the corpus) a path lies in, "" if outside."""
    rel = os.path.relpath(path, corpus)
    return "" if rel.startswith("..") or rel == "." else rel.split(os.sep)[0]


def outcomes(result: RunResult, manifest: dict[str, Any], corpus: Path) -> dict[str, Outcome]:
    """Per mutant folder: the studies made from its files, their reports, its skipped files."""
    found: dict[str, Outcome] = defaultdict(Outcome)
    by_uid = {m["study_uid"]: m["folder"] for m in manifest["mutants"]}
    run = result.run or {}
    for study in run.get("studies", []):
        for folder in study_folders(study, corpus, by_uid):
            found[folder].studies.append(study)
            found[folder].reports.append(result.reports.get(study.get("report") or "", {}))
    for skipped in run.get("skipped_files", []):
        found[folder_of(str(skipped.get("path", "")), corpus)].skipped.append(skipped)
    return found


def study_folders(study: dict[str, Any], corpus: Path, by_uid: dict[str, str]) -> set[str]:
    """Mutant folders a study's files came from (by source_folders; by its UID when the
    run does not say)."""
    if "source_folders" in study:
        return {folder_of(str(f), corpus) for f in study["source_folders"]} - {""}
    folder = by_uid.get(study.get("study_instance_uid", ""))
    return {folder} if folder else set()


# --- the checks -----------------------------------------------------------------------------


def check_finished(result: RunResult) -> list[Problem]:
    """The batch ends by itself, writes a readable run.json and exits per the contract:
    0 all analysed, 1 some failed, 3 nothing usable; never 2 (a usage error) on data."""
    if result.returncode is None:
        return [Problem("finished", "batch still running at the overall timeout (killed)")]
    if result.run is None:
        return [
            Problem("finished", "no readable run.json", f"{result.run_error}; exit code {result.returncode}")
        ]
    statuses = Counter(s.get("status") for s in result.run.get("studies", []))
    expected = 3 if not statuses["analyzed"] else 0 if set(statuses) == {"analyzed"} else 1
    problems = []
    if result.returncode != expected:
        detail = f"exit code {result.returncode}, expected {expected} for study statuses {dict(statuses)}"
        problems.append(Problem("finished", "exit code not per the contract", detail))
    if result.run.get("exit_code") != result.returncode:
        detail = f"run.json says {result.run.get('exit_code')}, the process {result.returncode}"
        problems.append(Problem("finished", "run.json exit_code differs from the exit code", detail))
    return problems


def check_sentinel(found: dict[str, Outcome], manifest: dict[str, Any]) -> list[Problem]:
    """The clean study among the broken ones is analysed: bad neighbours cost nothing."""
    problems = []
    for m in manifest["mutants"]:
        if m["kind"] != "sentinel":
            continue
        statuses = [s.get("status") for s in found[m["folder"]].studies]
        if statuses != ["analyzed"]:
            problems.append(_problem("sentinel", "sentinel study not analysed", m, f"statuses {statuses}"))
    return problems


def check_python_text(result: RunResult, corpus: Path, manifest: dict[str, Any]) -> list[Problem]:
    """No traceback on stderr, and no exception class or raw interpreter message in any
    reason or warning of run.json, summary.csv or a report.json: a reader is owed a sentence."""
    problems = []
    if TRACEBACK in result.stderr:
        problems.append(Problem("python_text", "traceback on stderr", _traceback_excerpt(result.stderr)))
    mutants = {m["folder"]: m for m in manifest["mutants"]}
    by_uid = {m["study_uid"]: m["folder"] for m in manifest["mutants"]}
    found: dict[tuple[str, str], tuple[str, set[str]]] = {}  # (folder, match) -> (a text, where)
    for text, folders, where in _run_texts(result.run or {}, corpus, by_uid, result):
        match = PYTHON_TEXT.search(text)
        for folder in sorted(folders) or [""] if match else []:
            assert match is not None
            found.setdefault((folder, match.group(0)), (text, set()))[1].add(where)
    for (folder, phrase), (text, places) in sorted(found.items()):
        m = mutants.get(folder, {})
        problems.append(_problem("python_text", phrase, m, f"{text} (in {', '.join(sorted(places))})"))
    return problems


def _traceback_excerpt(stderr: str) -> str:
    start = stderr.index(TRACEBACK)
    lines = stderr[start:].splitlines()
    end = next((i for i, line in enumerate(lines[1:], 1) if not line.startswith(" ")), len(lines) - 1)
    return "\n".join(lines[: end + 1][-6:])


def _run_texts(
    run: dict[str, Any], corpus: Path, by_uid: dict[str, str], result: RunResult
) -> Iterator[tuple[str, set[str], str]]:
    """(text, mutant folders it is about, where it was found) for every prose string."""
    for study in run.get("studies", []):
        folders = study_folders(study, corpus, by_uid)
        for text in strings(study):
            yield text, folders, "run.json study"
        for text in strings(result.reports.get(study.get("report") or "", {})):
            yield text, folders, "report.json"
    for skipped in run.get("skipped_files", []):
        yield (
            str(skipped.get("reason", "")),
            {folder_of(str(skipped.get("path", "")), corpus)},
            "skipped_files",
        )
    for text in run.get("warnings", []):
        yield str(text), {f for f in _folders_named(str(text), corpus)}, "run.json warnings"
    for row in result.summary:
        yield (
            row.get("reason", "") or "",
            {by_uid.get(row.get("study_instance_uid", ""), "")} - {""},
            "summary.csv",
        )


def _folders_named(text: str, corpus: Path) -> set[str]:
    return {folder_of(p, corpus) for p in re.findall(re.escape(str(corpus)) + r"/[^\s:'\"]+", text)}


def strings(value: Any, key: str = "") -> Iterator[str]:
    """Every string in a JSON value, except under keys that hold names and paths."""
    if key in NOT_PROSE:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v, key)


def check_accounting(result: RunResult, corpus: Path, manifest: dict[str, Any]) -> list[Problem]:
    """Every entry under the corpus is used or skipped with a reason, exactly once.

    Entries are what `os.walk(followlinks=False)` lists: regular files, special files and
    symlinks (a folder symlink not followed is an entry too). Checked for the whole run
    (n_files = files used + skipped = entries) and per mutant folder, so that a miscount
    points at the mutation that caused it.
    """
    run = result.run
    if run is None:
        return []
    entries = walk_entries(corpus)
    problems = _skipped_list_problems(run.get("skipped_files", []), set(entries), corpus, manifest)
    studies = run.get("studies", [])
    if any("n_files_used" not in s or "source_folders" not in s for s in studies):
        return [*problems, Problem("accounting", "run.json studies lack n_files_used or source_folders")]
    used = sum(int(s["n_files_used"]) for s in studies)
    skipped = len(run.get("skipped_files", []))
    if not run.get("n_files") == used + skipped == len(entries):
        detail = (
            f"n_files {run.get('n_files')}, used {used} + skipped {skipped}, entries on disk {len(entries)}"
        )
        problems.append(Problem("accounting", "file counts do not add up (whole run)", detail))
    return problems + _per_folder_accounting(run, entries, corpus, manifest)


def _skipped_list_problems(
    skipped: list[dict[str, Any]], entries: set[str], corpus: Path, manifest: dict[str, Any]
) -> list[Problem]:
    mutants = {m["folder"]: m for m in manifest["mutants"]}
    problems = []
    counts = Counter(str(s.get("path")) for s in skipped)
    for s in skipped:
        path, reason = str(s.get("path")), s.get("reason")
        m = mutants.get(folder_of(path, corpus), {})
        if counts[path] > 1:
            problems.append(
                _problem("accounting", "file listed more than once in skipped_files", m, "", path)
            )
        if path not in entries:
            problems.append(
                _problem("accounting", "skipped path is not an entry under the corpus", m, "", path)
            )
        if not isinstance(reason, str) or len(reason.split()) < 2:
            problems.append(
                _problem("accounting", "skipped file without a reason sentence", m, repr(reason), path)
            )
    return problems


def _per_folder_accounting(
    run: dict[str, Any], entries: list[str], corpus: Path, manifest: dict[str, Any]
) -> list[Problem]:
    """Entries of each group of folders (folders joined by a study that spans them) against
    the files its studies used plus the files skipped in it."""
    groups = _folder_groups([study_folders(s, corpus, {}) for s in run.get("studies", [])])
    on_disk: Counter[str] = Counter(folder_of(p, corpus) for p in entries)
    skipped: Counter[str] = Counter(
        folder_of(str(s.get("path")), corpus) for s in run.get("skipped_files", [])
    )
    used: Counter[str] = Counter()
    for s in run.get("studies", []):
        folders = study_folders(s, corpus, {})
        if folders:
            used[groups[next(iter(folders))]] += int(s["n_files_used"])
    mutants = {m["folder"]: m for m in manifest["mutants"]}
    problems = []
    for group in sorted(set(groups.values()) | {frozenset([f]) for f in on_disk if f not in groups}):
        n_disk = sum(on_disk[f] for f in group)
        n_skipped = sum(skipped[f] for f in group)
        if n_disk != used[group] + n_skipped:
            detail = f"{n_disk} entries on disk, {used[group]} used + {n_skipped} skipped"
            what = "files not accounted for" if n_disk > used[group] + n_skipped else "files counted twice"
            for f in sorted(group):
                problems.append(_problem("accounting", what, mutants.get(f, {}), detail, str(corpus / f)))
    return problems


def _folder_groups(sets: Iterable[set[str]]) -> dict[str, frozenset[str]]:
    """Folder -> the group of folders its studies connect (studies spanning folders merge)."""
    groups: list[set[str]] = []
    for s in sets:
        touching = [g for g in groups if g & s]
        merged = set(s).union(*touching)
        groups = [g for g in groups if not g & s] + [merged]
    return {f: frozenset(g) for g in groups for f in g}


def _normalise(text: str) -> str:
    """A warning with its numbers and UIDs blanked: the same warning on another study."""
    return re.sub(r"\d+(?:\.\d+)*", "#", text)


def report_warnings(report: dict[str, Any]) -> list[str]:
    """The study's warnings and every series' warnings and non-analysed reasons."""
    found = [str(w) for w in report.get("warnings", [])]
    for series in report.get("series", []):
        found += [str(w) for w in series.get("warnings", [])]
        if series.get("status") not in (None, "analyzed") and series.get("reason"):
            found.append(str(series["reason"]))
    return found


def baseline_warnings(found: dict[str, Outcome], manifest: dict[str, Any]) -> set[str]:
    """Warnings the clean crops already get (a cut-out body, few slices): a mutant is only
    noticed by a warning beyond these."""
    clean = [m["folder"] for m in manifest["mutants"] if m["kind"] in ("sentinel", "control")]
    return {_normalise(w) for f in clean for r in found[f].reports for w in report_warnings(r)}


def noticed(outcome: Outcome, baseline: set[str]) -> bool:
    """Failed or skipped with a reason, a file skipped with a reason, or a warning the clean
    crop does not get."""
    if any(s.get("status") != "analyzed" and s.get("reason") for s in outcome.studies):
        return True
    if any(s.get("reason") for s in outcome.skipped):
        return True
    return any(_normalise(w) not in baseline for r in outcome.reports for w in report_warnings(r))


def check_noticed(found: dict[str, Outcome], manifest: dict[str, Any]) -> list[Problem]:
    """A malformed study is never analysed as if nothing were wrong."""
    baseline = baseline_warnings(found, manifest)
    problems = []
    for m in manifest["mutants"]:
        if m["must_notice"] and not noticed(found[m["folder"]], baseline):
            problems.append(_problem("noticed", describe(found[m["folder"]]), m))
    return problems


def check_analysed(found: dict[str, Outcome], manifest: dict[str, Any]) -> list[Problem]:
    """Studies whose images are fine (odd file names, junk beside them, an odd character set,
    a second series) are analysed, like the controls."""
    problems = []
    for m in manifest["mutants"]:
        studies = found[m["folder"]].studies
        if m["must_analyse"] and (not studies or any(s.get("status") != "analyzed" for s in studies)):
            reasons = "; ".join(str(s.get("reason")) for s in studies if s.get("reason"))
            problems.append(_problem("analysed", describe(found[m["folder"]]), m, reasons))
    return problems


def check_workers(found: dict[str, Outcome], manifest: dict[str, Any]) -> list[Problem]:
    """No study hangs until --study-timeout or takes its worker process down (a decoder's
    crash, the memory cap): the batch survives those, but each is a robustness bug."""
    problems = []
    for m in manifest["mutants"]:
        for s in found[m["folder"]].studies:
            reason = str(s.get("reason") or "")
            if s.get("status") == "failed" and LOST_WORKER.search(reason):
                problems.append(_problem("workers", _normalise(reason)[:80], m, reason))
    return problems


def check_inputs_unchanged(before: dict[str, str], after: dict[str, str]) -> list[Problem]:
    """The run reads its inputs and never writes, adds or removes anything among them."""
    problems = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            what = "added" if path not in before else "removed" if path not in after else "changed"
            problems.append(Problem("inputs", f"input {what}", path=path, folder=path.split(os.sep)[0]))
    return problems


def describe(outcome: Outcome) -> str:
    """What the run made of a mutant, in a few words (the failure class)."""
    if not outcome.studies and not outcome.skipped:
        return "absent from run.json (no study, no skipped file)"
    statuses = sorted({str(s.get("status")) for s in outcome.studies})
    text = "/".join(statuses) or "no study"
    text += " without any warning" if "analyzed" in statuses else ""
    return text + (", files skipped" if outcome.skipped else "")


def _problem(check: str, what: str, m: dict[str, Any], detail: str = "", path: str = "") -> Problem:
    return Problem(check, what, detail, m.get("folder", ""), m.get("variant", ""), path)


# --- reporting ------------------------------------------------------------------------------


def all_problems(
    result: RunResult, manifest: dict[str, Any], corpus: Path, before: dict[str, str], after: dict[str, str]
) -> list[Problem]:
    found = outcomes(result, manifest, corpus)
    return [
        *check_finished(result),
        *check_sentinel(found, manifest),
        *check_python_text(result, corpus, manifest),
        *check_accounting(result, corpus, manifest),
        *check_noticed(found, manifest),
        *check_analysed(found, manifest),
        *check_workers(found, manifest),
        *check_inputs_unchanged(before, after),
    ]


def class_key(p: Problem) -> tuple[str, str, str]:
    """Problems of one class: same check, same mutations, same kind of failure."""
    family = p.folder.split("-", 1)[1] if "-" in p.folder else ""
    return p.check, f"{family}/{p.variant}" if p.variant else "(run)", _normalise(p.what)


def group_problems(problems: list[Problem]) -> list[tuple[tuple[str, str, str], list[Problem]]]:
    groups: dict[tuple[str, str, str], list[Problem]] = defaultdict(list)
    for p in problems:
        groups[class_key(p)].append(p)
    return sorted(groups.items(), key=lambda kv: (kv[0][0], -len(kv[1]), kv[0][1]))


def format_problems(problems: list[Problem], limit: int = 60) -> str:
    """One line per failure class: count, check, mutation, what happened, one example."""
    lines = []
    for (check, variant, what), members in group_problems(problems)[:limit]:
        example = members[0]
        where = example.path or example.folder
        detail = example.detail.replace("\n", " | ")[:160]
        lines.append(f"{len(members):5d}  {check:11s} {variant:45s} {what}  [{where}] {detail}")
    more = len(group_problems(problems)) - limit
    if more > 0:
        lines.append(f"... and {more} more classes")
    return "\n".join(lines)
