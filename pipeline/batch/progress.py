"""How a run shows its progress: bars on a terminal, plain lines in a log, nothing with -q;
and the summary table at the end.

Bars: one for the whole run and one per study in flight (its stacks, then its outputs).
Lines: one per finished study, with its status, deposits and time, so that a log of a long
batch says what happened to each study as it happened.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.batch.job import StudyJob
from pipeline.batch.record import StudyRecord

_MAX_ROWS = 40  # of the summary table; beyond this only the studies that did not succeed


def short(key: str, width: int = 28) -> str:
    return key if len(key) <= width else "…" + key[-(width - 1) :]


class Silent:
    """-q: nothing but errors (which the log handler shows)."""

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def started(self, job: StudyJob) -> None:
        pass

    def progress(self, key: str, done: int, total: int, what: str) -> None:
        pass

    def finished(self, record: StudyRecord, n_done: int, n_total: int) -> None:
        pass

    def summary(self, records: Sequence[StudyRecord], seconds: float) -> None:
        pass


class Lines(Silent):
    """A line per finished study, for logs and pipes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def finished(self, record: StudyRecord, n_done: int, n_total: int) -> None:
        print(f"[{n_done}/{n_total}] {describe(record)}", file=self.stream, flush=True)

    def summary(self, records: Sequence[StudyRecord], seconds: float) -> None:
        Console(file=self.stream, width=120).print(summary_table(records, seconds))


class Bars(Lines):
    """rich progress bars on a terminal; log records are shown above the bars."""

    def __init__(self, n_total: int) -> None:
        super().__init__()
        self.console = Console(stderr=True)
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.overall = self.bars.add_task("studies", total=n_total)
        self.per_study: dict[str, TaskID] = {}
        self.saved: list[logging.Handler] = []

    def __enter__(self) -> Bars:
        root = logging.getLogger()
        self.saved = root.handlers[:]
        root.handlers[:] = [RichHandler(console=self.console, show_time=False, show_path=False)]
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()
        logging.getLogger().handlers[:] = self.saved

    def started(self, job: StudyJob) -> None:
        self.per_study[job.key] = self.bars.add_task(f"  {short(job.key)} starting", total=None)

    def progress(self, key: str, done: int, total: int, what: str) -> None:
        if key in self.per_study:
            description = f"  {short(key)} {short(what, 24)}"
            self.bars.update(self.per_study[key], completed=done, total=total, description=description)

    def finished(self, record: StudyRecord, n_done: int, n_total: int) -> None:
        if record.key in self.per_study:
            self.bars.remove_task(self.per_study.pop(record.key))
        self.bars.update(self.overall, completed=n_done)
        self.console.print(f"[{n_done}/{n_total}] {describe(record)}", markup=False, highlight=False)

    def summary(self, records: Sequence[StudyRecord], seconds: float) -> None:
        self.console.print(summary_table(records, seconds))


def describe(record: StudyRecord) -> str:
    if record.resumed:
        return f"{record.key}: {record.status}, kept from an earlier run (--resume)"
    text = f"{record.key}: {record.status}"
    if record.status != "failed":
        text += f", {record.n_deposits} deposit{'s' * (record.n_deposits != 1)}"
    text += f", {record.seconds:.1f} s"
    return text + (f" ({record.reason})" if record.reason else "")


def summary_table(records: Sequence[StudyRecord], seconds: float) -> Table:
    """The studies (or, in a big batch, those that did not succeed) and the counts."""
    counts = Counter(r.status for r in records)
    title = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no studies"
    table = Table(title=f"calcscan: {title} in {seconds:.0f} s", title_justify="left")
    for name, justify in (("study", "left"), ("status", "left"), ("deposits", "right"),
                          ("top pattern", "left"), ("s", "right"), ("reason", "left")):  # fmt: skip
        table.add_column(name, justify=justify, overflow="fold")
    shown = records if len(records) <= _MAX_ROWS else [r for r in records if r.status != "analyzed"]
    for r in shown[:_MAX_ROWS]:
        pattern = r.overview.get("top_pattern")
        verdict = r.overview.get("top_verdict")
        table.add_row(
            short(r.key),
            r.status + (" (kept)" if r.resumed else ""),
            str(r.n_deposits) if r.status != "failed" else "",
            f"{pattern} ({verdict})" if pattern else "",
            f"{r.seconds:.1f}",
            r.reason or "",
        )
    if len(shown) > _MAX_ROWS or len(shown) < len(records):
        table.caption = f"{min(len(shown), _MAX_ROWS)} of {len(records)} studies shown; all in summary.csv"
    return table
