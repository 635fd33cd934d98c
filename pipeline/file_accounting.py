"""Which files of a study were used, and why each of the others was not.

"Nothing lost silently": every file of a study ends either in an analysed volume or image,
or in run.json with a reason a person understands. The most specific reason wins: the
file's own problem (damaged, undecodable, a duplicate slice) over its series' fate (not an
image calcscan analyses, a series that failed).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pipeline.models import SeriesOutcome, SkippedFile, StudyResult


def account_files(result: StudyResult) -> tuple[list[Path], list[SkippedFile]]:
    """(files used, files not used with their reasons) of `result.study`."""
    study = result.study
    used: set[Path] = set()
    reasons: dict[Path, str] = {}
    for seg in result.segmentations:
        used.update(seg.volume.source_files)
        for problem in seg.volume.file_problems:
            reasons.setdefault(problem.path, problem.reason)
    used.update(found.image.path for found in result.radiograph_findings)
    for item in study.rejected + [d for st in study.stacks for d in st.dropped]:
        reasons.setdefault(item.path, item.reason)
    for outcome in result.series:
        why = _series_reason(outcome)
        for inst in outcome.stack.instances:
            reasons.setdefault(inst.path, why)
    files = study.files
    fallback = "not used by any analysed series"
    unused = [SkippedFile(p, reasons.get(p, fallback)) for p in files if p not in used]
    return sorted(used, key=str), unused


def _series_reason(outcome: SeriesOutcome) -> str:
    if outcome.status == "skipped":
        return f"not analysed: {outcome.reason or 'not an image calcscan analyses'}"
    if outcome.status == "failed":
        return f"its series could not be analysed: {outcome.reason}"
    return "left out of the analysed volume (the stack was rebuilt from its decodable slices)"


def source_folders(files: list[Path]) -> list[str]:
    """The distinct folders a study's files came from (how users find a study on disk)."""
    return sorted({str(p.parent) for p in files})


def top_reasons(reasons: list[str], n: int = 3) -> str:
    """The commonest reasons, each with its count, for one-line summaries."""
    ranked = sorted(Counter(reasons).items(), key=lambda kv: (-kv[1], kv[0]))
    shown = "; ".join(f"{r} [{c} files]" if c > 1 else r for r, c in ranked[:n])
    return shown + (f"; and {len(ranked) - n} other reason(s)" if len(ranked) > n else "")
