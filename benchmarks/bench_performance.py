"""calcscan's speed and memory against the I/O floor (issue 9): `make bench`.

The floor is what SimpleITK needs to list, sort and read the same DICOM files; calcscan's own
discovery and load stages are timed in this process on the same folders, and whole runs as
the `calcscan run` command a user types. Targets: load <= 1.5 x SimpleITK's read, a whole run
of a 512 x 512 x 400 CT <= 3 x SimpleITK's listing and read, peak memory < 4 x the int16
volume, 2 workers >= 1.7 x the studies per hour of 1, and a cost per slice that does not grow
with the number of slices.

The studies are phantoms written once as real DICOM into --data (see perf_workload.py).
Results: OUT/results.json and OUT/results.md (the table, also printed). Every time is the
median of --repeat runs with the files in the page cache (the minimum is kept too).

    .venv/bin/python benchmarks/bench_performance.py [--repeat 3] [--only floor ...] [--smoke]
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from perf_workload import CTSpec, Workload, full_workload, prepare, smoke_workload

from pipeline.config import Config, load_config
from pipeline.discover import discover
from pipeline.load import load_stack
from pipeline.models import Discovery, Stack
from pipeline.timing import STAGES

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECTIONS = ("floor", "run", "throughput", "slices", "radiograph")
SECTION_STUDIES = {  # the workload groups (perf_workload.GROUPS) each section reads
    "floor": ("main", "rle"),
    "run": ("main",),
    "throughput": ("throughput",),
    "slices": ("slices",),
    "radiograph": ("radiograph",),
}
SCHEMA = "calcscan-bench-performance/1"
PR_SET_CHILD_SUBREAPER = 36  # prctl option, <linux/prctl.h>
TABLE_HEADER = "| Measure | Workload | Median | Min | Ratio | Target | Met |"

# name: (what it says, limit, comparison)
TARGETS: dict[str, tuple[str, float, str]] = {
    "load_vs_sitk_read": ("calcscan load / SimpleITK Execute, main CT", 1.5, "<="),
    "run_vs_sitk_read": ("whole run wall / SimpleITK names+Execute, main CT", 3.0, "<="),
    "peak_rss_vs_int16_volume": ("worker peak RSS / int16 volume, main CT", 4.0, "<"),
    "two_worker_speedup": ("studies/hour with 2 workers / with 1", 1.7, ">="),
    "per_slice_cost_ratio": ("max/min per-slice cost of the two largest slice counts", 1.25, "<="),
}


@dataclass
class Bench:
    """What every section needs: the workload, its folders, the settings, a scratch folder."""

    work: Workload
    folders: dict[str, Path]
    repeat: int
    config: Config
    scratch: Path
    sitk_floors: dict[Path, dict[str, dict]] = field(default_factory=dict)


# --- timing --------------------------------------------------------------------------------


def summary(values: Iterable[float]) -> dict[str, Any]:
    """Median (the figure reported), minimum and every run, rounded for reading."""
    runs = [float(v) for v in values]
    return {
        "median": round(statistics.median(runs), 4),
        "min": round(min(runs), 4),
        "runs": [round(v, 4) for v in runs],
    }


def repeated(round_fn: Callable[[], dict[str, float]], repeat: int) -> dict[str, dict[str, Any]]:
    """Run `round_fn` once untimed (imports, decoders and page cache warm), then `repeat`
    times; each of its named durations summarised. Steps of one round run back to back, so
    a load from another job on the machine weighs on calcscan and the floor alike."""
    round_fn()
    rounds = [round_fn() for _ in range(repeat)]
    return {name: summary(r[name] for r in rounds) for name in rounds[0]}


def warm_page_cache(folder: Path) -> None:
    """Read every file once, so that the timings measure decoding, not the disk."""
    for path in folder.rglob("*"):
        if path.is_file():
            path.read_bytes()


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


# --- the floor and calcscan's load stage, in this process -----------------------------------


def sitk_round(ct_dir: Path) -> dict[str, float]:
    """SimpleITK's listing and sorting (GDCM) and its read of the sorted files."""
    start = time.perf_counter()
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(ct_dir))
    listed = time.perf_counter()
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    image = reader.Execute()
    read = time.perf_counter()
    del image
    return {"sitk_names": listed - start, "sitk_read": read - listed, "sitk_total": read - start}


def calcscan_round(folder: Path, config: Config) -> dict[str, float]:
    """calcscan's discovery (headers, grouping, geometry plan) and load (pixels) stages."""
    start = time.perf_counter()
    found = discover([folder], config)
    discovered = time.perf_counter()
    image = load_stack(image_stack(found), config)
    loaded = time.perf_counter()
    del image
    return {"discovery": discovered - start, "load": loaded - discovered, "calcscan_total": loaded - start}


def image_stack(found: Discovery) -> Stack:
    """The one stack the benchmark folder holds (a CT with a geometry plan, or a film)."""
    stacks = [
        s for study in found.studies for s in study.stacks if s.plan is not None or s.kind == "radiograph"
    ]
    if len(stacks) != 1:
        raise RuntimeError(f"expected one CT or radiograph stack, found {len(stacks)}")
    return stacks[0]


def sitk_floor(bench: Bench, key: str) -> dict[str, dict]:
    """SimpleITK's times for a CT study, measured once per benchmark."""
    folder = bench.folders[key]
    if folder not in bench.sitk_floors:
        warm_page_cache(folder)
        bench.sitk_floors[folder] = repeated(lambda: sitk_round(folder / "CT"), bench.repeat)
    return bench.sitk_floors[folder]


def ct_floor(bench: Bench, key: str, spec: CTSpec) -> dict[str, Any]:
    """Floor and calcscan's discovery + load for one CT study, steps interleaved per round."""
    ct_dir = bench.folders[key] / "CT"
    warm_page_cache(ct_dir)
    times = repeated(lambda: {**sitk_round(ct_dir), **calcscan_round(ct_dir, bench.config)}, bench.repeat)
    bench.sitk_floors[bench.folders[key]] = {k: v for k, v in times.items() if k.startswith("sitk_")}
    med = {k: v["median"] for k, v in times.items()}
    return {
        "study": key,
        "shape_zyx": [spec.slices, spec.matrix, spec.matrix],
        "compression": spec.compression,
        "seconds": times,
        "ratios": {
            "load_vs_sitk_read": ratio(med["load"], med["sitk_read"]),
            "discovery_load_vs_sitk_names_read": ratio(med["calcscan_total"], med["sitk_total"]),
        },
    }


def floor_section(bench: Bench) -> dict[str, Any]:
    return {
        "what": "SimpleITK GetGDCMSeriesFileNames (names) and ImageSeriesReader.Execute (read) of "
        "CT/; calcscan discover() and load_stack() of the same folder, in this process",
        "main": ct_floor(bench, "main", bench.work.main),
        "rle": ct_floor(bench, "rle", bench.work.rle),
    }


# --- whole runs of the calcscan command ------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    wall: float  # seconds, start of the command to its exit
    studies: list[dict[str, Any]]  # run.json's study entries
    cpu_s: float  # user + system CPU seconds of every process of the run (wait4)


def calcscan_command() -> list[str]:
    """The installed `calcscan` script beside this Python, as a user runs it."""
    script = Path(sys.executable).with_name("calcscan")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipeline"]


def calcscan_run(inputs: Path, workers: int, scratch: Path) -> RunOutcome:
    """`calcscan run INPUTS -o OUT --workers N` in a subprocess, into a fresh OUT."""
    out = scratch / "run-out"
    shutil.rmtree(out, ignore_errors=True)
    log = scratch / "run.log"
    command = [*calcscan_command(), "run", str(inputs), "-o", str(out), "--workers", str(workers)]
    with log.open("wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    usages = [usage, *reap_orphans()]
    run = _finished_run(proc.returncode, out, log, command)
    cpu = sum(u.ru_utime + u.ru_stime for u in usages)
    return RunOutcome(wall, run["studies"], cpu)


def become_subreaper() -> bool:
    """Adopt the orphans of the runs: calcscan's workers are forked by a forkserver that
    outlives the command by a moment and is reaped by nobody, so without this their CPU time
    would be missing (Linux only). Memory is not taken from wait4: a child's ru_maxrss starts
    from this process's resident set at the fork, so run.json's worker figure is used."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans(deadline_s: float = 30.0) -> list[Any]:
    """Resource usage of every adopted descendant (each including the children it reaped)."""
    usages, stop = [], time.monotonic() + deadline_s
    while time.monotonic() < stop:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            usages.append(usage)
        else:
            time.sleep(0.02)
    return usages


def _finished_run(code: int, out: Path, log: Path, command: list[str]) -> dict[str, Any]:
    """run.json of a run in which every study was analysed; anything else fails the section
    (a time for a failed study would be meaningless)."""
    tail = log.read_text(errors="replace")[-3000:]
    try:
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise RuntimeError(f"{' '.join(command)} exited {code}, no run.json:\n{tail}") from None
    bad = [s["key"] for s in run["studies"] if s.get("status") != "analyzed"]
    if code != 0 or bad or not run["studies"]:
        raise RuntimeError(f"{' '.join(command)} exited {code}; not analysed: {bad}\n{tail}")
    return run


def stage_medians(entries: list[dict[str, Any]]) -> dict[str, float] | None:
    """Median seconds of each stage over the runs; None when run.json has no stage_seconds."""
    found = [e["stage_seconds"] for e in entries if isinstance(e.get("stage_seconds"), dict)]
    if not found:
        return None
    keys = [k for k in STAGES if any(k in f for f in found)] + sorted(
        {k for f in found for k in f} - set(STAGES)
    )
    return {k: round(statistics.median(f[k] for f in found if k in f), 4) for k in keys}


def peak_rss(entries: list[dict[str, Any]]) -> float | None:
    """Largest peak_rss_mb that run.json reports over the runs (None when absent)."""
    values = [e["peak_rss_mb"] for e in entries if isinstance(e.get("peak_rss_mb"), int | float)]
    return max(values) if values else None


def study_runs(bench: Bench, key: str) -> dict[str, Any]:
    """Whole runs of one study with one worker: wall, time in the worker, stages, memory."""
    folder = bench.folders[key]
    warm_page_cache(folder)
    outcomes = [calcscan_run(folder, 1, bench.scratch) for _ in range(bench.repeat)]
    entries = [o.studies[0] for o in outcomes]
    return {
        "study": key,
        "wall_s": summary(o.wall for o in outcomes),
        "study_s": summary(e["seconds"] for e in entries),
        "stage_seconds": stage_medians(entries),
        "peak_rss_mb": peak_rss(entries),
        "cpu_s": summary(o.cpu_s for o in outcomes),
    }


def run_section(bench: Bench) -> dict[str, Any]:
    spec = bench.work.main
    result = study_runs(bench, "main")
    floor = sitk_floor(bench, "main")
    volume = spec.int16_mib
    result |= {
        "shape_zyx": [spec.slices, spec.matrix, spec.matrix],
        "int16_volume_mib": round(volume, 1),
        "sitk_total_s": floor["sitk_total"]["median"],
        "ratios": {
            "wall_vs_sitk_names_read": ratio(result["wall_s"]["median"], floor["sitk_total"]["median"]),
            "peak_rss_vs_int16_volume": ratio(result["peak_rss_mb"], volume),
        },
    }
    return {
        "what": "calcscan run STUDY -o OUT --workers 1 (subprocess wall); run.json per study",
        "main": result,
    }


# --- throughput and slice count ---------------------------------------------------------------


def throughput_section(bench: Bench) -> dict[str, Any]:
    """Studies per hour of the throughput set with 1 and 2 workers (runs interleaved)."""
    folder = bench.folders["throughput"]
    n = len(bench.work.throughput)
    warm_page_cache(folder)
    runs: dict[int, list[RunOutcome]] = {1: [], 2: []}
    for _ in range(bench.repeat):
        for workers in runs:
            runs[workers].append(calcscan_run(folder, workers, bench.scratch))
    result: dict[str, Any] = {
        "what": "calcscan run throughput/ -o OUT --workers N",
        "n_studies": n,
        "workers": {},
    }
    for workers, outcomes in runs.items():
        if any(len(o.studies) != n for o in outcomes):
            raise RuntimeError(f"expected {n} studies in each throughput run")
        wall = summary(o.wall for o in outcomes)
        entries = [e for o in outcomes for e in o.studies]
        result["workers"][str(workers)] = {
            "wall_s": wall,
            "studies_per_hour": round(n / wall["median"] * 3600, 1),
            "cpu_s": summary(o.cpu_s for o in outcomes),
            "peak_rss_mb": peak_rss(entries),
        }
    per_hour = [result["workers"][w]["studies_per_hour"] for w in ("1", "2")]
    result["speedup_2_vs_1"] = ratio(per_hour[1], per_hour[0])
    return result


def linear_fit(x: list[float], y: list[float]) -> dict[str, float]:
    slope, intercept = np.polyfit(x, y, 1)
    residual = np.asarray(y) - (slope * np.asarray(x) + intercept)
    r2 = 1 - float(residual @ residual) / float(np.sum((np.asarray(y) - np.mean(y)) ** 2))
    return {
        "slope_s_per_slice": round(float(slope), 5),
        "intercept_s": round(float(intercept), 3),
        "r2": round(r2, 4),
    }


def slices_section(bench: Bench) -> dict[str, Any]:
    """Time against slice count; the per-slice cost compares the two largest counts."""
    counts = []
    for spec in bench.work.sweep:
        run = study_runs(bench, f"slices-{spec.slices}")
        run["slices"] = spec.slices
        run["z_coverage_mm"] = round(spec.slices * spec.slice_mm, 1)
        run["wall_per_slice_s"] = round(run["wall_s"]["median"] / spec.slices, 5)
        run["study_per_slice_s"] = round(run["study_s"]["median"] / spec.slices, 5)
        counts.append(run)
    n = [c["slices"] for c in counts]
    mid, top = counts[-2], counts[-1]
    costs = [mid["study_per_slice_s"], top["study_per_slice_s"]]
    return {
        "what": "calcscan run per study (1 worker) at each slice count, same body and pixel size",
        "slice_mm": bench.work.sweep[0].slice_mm,
        "counts": counts,
        "fit_wall": linear_fit(n, [c["wall_s"]["median"] for c in counts]),
        "fit_study": linear_fit(n, [c["study_s"]["median"] for c in counts]),
        "per_slice_cost": {
            "definition": "per-slice cost = median study seconds in the worker (run.json 'seconds') / "
            "slices; ratio = max/min of the costs at the two largest slice counts. Every study scans "
            "upwards from the same level below the femoral heads, so more slices also reach other "
            "anatomy (abdomen, then chest): the ratio measures count and content together",
            "slices": [mid["slices"], top["slices"]],
            "seconds_per_slice": costs,
            "max_min_ratio": ratio(max(costs), min(costs)),
            "largest_vs_middle": ratio(costs[1], costs[0]),
        },
    }


# --- the radiograph --------------------------------------------------------------------------


def radiograph_round(folder: Path, config: Config) -> dict[str, float]:
    start = time.perf_counter()
    image = sitk.ReadImage(str(next(folder.glob("DX/*.dcm"))))
    read = time.perf_counter()
    del image
    return {"sitk_read": read - start, **calcscan_round(folder / "DX", config)}


def radiograph_section(bench: Bench) -> dict[str, Any]:
    spec, folder = bench.work.radiograph, bench.folders["radiograph"]
    warm_page_cache(folder)
    times = repeated(lambda: radiograph_round(folder, bench.config), bench.repeat)
    run = study_runs(bench, "radiograph")
    return {
        "what": "SimpleITK ReadImage vs calcscan discover()+load_stack(); whole run of the study",
        "rows_columns": [spec.rows, spec.columns],
        "pixel_mm": spec.pixel_mm,
        "seconds": times,
        "ratios": {
            "load_vs_sitk_read": ratio(times["load"]["median"], times["sitk_read"]["median"]),
            "discovery_load_vs_sitk_read": ratio(
                times["calcscan_total"]["median"], times["sitk_read"]["median"]
            ),
            "wall_vs_sitk_read": ratio(run["wall_s"]["median"], times["sitk_read"]["median"]),
        },
        "run": run,
    }


SECTION_RUNNERS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "floor": floor_section,
    "run": run_section,
    "throughput": throughput_section,
    "slices": slices_section,
    "radiograph": radiograph_section,
}


# --- targets ---------------------------------------------------------------------------------


def _dig(results: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(results, dict) or key not in results:
            return None
        results = results[key]
    return results


TARGET_VALUES: dict[str, tuple[str, ...]] = {
    "load_vs_sitk_read": ("floor", "main", "ratios", "load_vs_sitk_read"),
    "run_vs_sitk_read": ("run", "main", "ratios", "wall_vs_sitk_names_read"),
    "peak_rss_vs_int16_volume": ("run", "main", "ratios", "peak_rss_vs_int16_volume"),
    "two_worker_speedup": ("throughput", "speedup_2_vs_1"),
    "per_slice_cost_ratio": ("slices", "per_slice_cost", "max_min_ratio"),
}


def targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target of the sections that ran: value, limit, met (False when not measured)."""
    out = {}
    for name, (what, limit, op) in TARGETS.items():
        path = TARGET_VALUES[name]
        if path[0] not in results:
            continue
        failed = "error" in results[path[0]]
        value = None if failed else _dig(results, *path)
        met = value is not None and {"<=": value <= limit, "<": value < limit, ">=": value >= limit}[op]
        out[name] = {"what": what, "value": value, "limit": limit, "comparison": op, "met": bool(met)}
        if value is None:
            out[name]["note"] = "section failed" if failed else "not measured (run.json has no such field)"
    return out


# --- the machine -----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Where the figures come from: hardware, software versions, the code's commit."""
    return {
        "cpu_model": _cpuinfo("model name"),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_gib": _ram_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in ("calcscan", "numpy", "scipy", "SimpleITK", "pydicom")},
        "git": _git(),
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _cpuinfo(key: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _ram_gib() -> float | None:
    try:
        kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        return None
    return round(kib / 2**20, 1)


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "dirty": bool(git("status", "--porcelain")),
    }


# --- the table -------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _time_row(
    measure: str, workload: str, stat: dict | None, ratio_text: str = "", target: str = ""
) -> list[str]:
    stat = stat or {}
    return [measure, workload, _s(stat.get("median")), _s(stat.get("min")), ratio_text, target, ""]


def _target_cells(results: dict[str, Any], name: str) -> tuple[str, str]:
    t = results.get("targets", {}).get(name)
    if t is None:
        return "", ""
    return f"{t['comparison']} {t['limit']}x", "yes" if t["met"] else "NO"


def floor_rows(results: dict[str, Any], work: Workload) -> list[list[str]]:
    rows = []
    for key, spec in (("main", work.main), ("rle", work.rle)):
        f = results["floor"][key]
        label = f"CT {spec.matrix}x{spec.matrix}x{spec.slices} {spec.compression}"
        s = f["seconds"]
        rows += [
            _time_row("SimpleITK list+sort (names)", label, s["sitk_names"]),
            _time_row("SimpleITK read (Execute)", label, s["sitk_read"]),
            _time_row("calcscan discovery", label, s["discovery"]),
            _time_row("calcscan load", label, s["load"], f"{_x(f['ratios']['load_vs_sitk_read'])} read"),
            _time_row(
                "calcscan discovery+load",
                label,
                s["calcscan_total"],
                f"{_x(f['ratios']['discovery_load_vs_sitk_names_read'])} names+read",
            ),
        ]
        if key == "main":
            rows[-2][5:7] = _target_cells(results, "load_vs_sitk_read")
    return rows


def run_rows(results: dict[str, Any], work: Workload) -> list[list[str]]:
    r = results["run"]["main"]
    label = f"CT {work.main.matrix}x{work.main.matrix}x{work.main.slices}"
    rows = [
        _time_row(
            "whole run, wall (1 worker)",
            label,
            r["wall_s"],
            f"{_x(r['ratios']['wall_vs_sitk_names_read'])} names+read",
        ),
        _time_row("  study in worker", label, r["study_s"]),
        [
            "  outside the study (start-up, discovery, run files)",
            label,
            _s(r["wall_s"]["median"] - r["study_s"]["median"]),
            "",
            "",
            "",
            "",
        ],
    ]
    rows[0][5:7] = _target_cells(results, "run_vs_sitk_read")
    for stage, seconds in (r["stage_seconds"] or {}).items():
        rows.append([f"  stage {stage}", label, _s(seconds), "", "", "", ""])
    rss = r["peak_rss_mb"]
    rss_text = "n/a (not in run.json)" if rss is None else f"{rss:.0f} MiB"
    volume = f"{_x(r['ratios']['peak_rss_vs_int16_volume'])} int16 ({r['int16_volume_mib']:.4g} MiB)"
    rows.append(
        [
            "peak RSS of the worker",
            label,
            rss_text,
            "",
            volume,
            *_target_cells(results, "peak_rss_vs_int16_volume"),
        ]
    )
    rows.append(_cpu_row(label, r["cpu_s"], r["wall_s"]))
    return rows


def _cpu_row(label: str, cpu: dict[str, Any], wall: dict[str, Any]) -> list[str]:
    """CPU seconds of every process of the run: CPU/wall tells how many cores a run keeps busy
    (above 1 with one worker, the study itself runs in parallel)."""
    busy = f"{cpu['median'] / wall['median']:.2f} cores busy"
    return ["  CPU time, all processes", label, _s(cpu["median"]), _s(cpu["min"]), busy, "", ""]


def throughput_rows(results: dict[str, Any], work: Workload) -> list[list[str]]:
    t = results["throughput"]
    spec = work.throughput[0]
    label = f"{t['n_studies']} x CT {spec.matrix}x{spec.matrix}x{spec.slices}"
    rows = []
    for workers, w in t["workers"].items():
        rows.append(_time_row(f"run wall, {workers} worker(s)", label, w["wall_s"]))
        rows.append(_cpu_row(label, w["cpu_s"], w["wall_s"]))
        rows.append(
            [f"studies/hour, {workers} worker(s)", label, f"{w['studies_per_hour']:.0f}", "", "", "", ""]
        )
    rows[-1][4] = f"{_x(t['speedup_2_vs_1'])} of 1 worker"
    rows[-1][5:7] = _target_cells(results, "two_worker_speedup")
    return rows


def slices_rows(results: dict[str, Any], work: Workload) -> list[list[str]]:
    s = results["slices"]
    spec = work.sweep[0]
    rows = []
    for c in s["counts"]:
        size = f"{spec.matrix}x{spec.matrix}x{c['slices']}"
        label = f"CT {size} ({s['slice_mm']} mm, z {c['z_coverage_mm']:.0f} mm)"
        rows.append(
            _time_row("whole run, wall", label, c["wall_s"], f"{c['wall_per_slice_s'] * 1000:.1f} ms/slice")
        )
        rows.append(
            _time_row(
                "  study in worker", label, c["study_s"], f"{c['study_per_slice_s'] * 1000:.1f} ms/slice"
            )
        )
    fit = s["fit_study"]
    rows.append(
        [
            "linear fit, study s",
            "slice sweep",
            f"{fit['slope_s_per_slice'] * 1000:.2f} ms/slice + {fit['intercept_s']:.2f} s",
            "",
            f"r2 {fit['r2']:.3f}",
            "",
            "",
        ]
    )
    cost = s["per_slice_cost"]
    label = f"{cost['slices'][0]} vs {cost['slices'][1]} slices"
    rows.append(
        [
            "per-slice cost max/min",
            label,
            "",
            "",
            _x(cost["max_min_ratio"]),
            *_target_cells(results, "per_slice_cost_ratio"),
        ]
    )
    return rows


def radiograph_rows(results: dict[str, Any], work: Workload) -> list[list[str]]:
    r = results["radiograph"]
    spec = work.radiograph
    label = f"DX {spec.columns}x{spec.rows}"
    s, q = r["seconds"], r["ratios"]
    return [
        _time_row("SimpleITK ReadImage", label, s["sitk_read"]),
        _time_row("calcscan discovery", label, s["discovery"]),
        _time_row("calcscan load", label, s["load"], f"{_x(q['load_vs_sitk_read'])} read"),
        _time_row(
            "calcscan discovery+load",
            label,
            s["calcscan_total"],
            f"{_x(q['discovery_load_vs_sitk_read'])} read",
        ),
        _time_row(
            "whole run, wall (1 worker)", label, r["run"]["wall_s"], f"{_x(q['wall_vs_sitk_read'])} read"
        ),
        _time_row("  study in worker", label, r["run"]["study_s"]),
    ]


ROW_BUILDERS: dict[str, Callable[[dict[str, Any], Workload], list[list[str]]]] = {
    "floor": floor_rows,
    "run": run_rows,
    "throughput": throughput_rows,
    "slices": slices_rows,
    "radiograph": radiograph_rows,
}


def failed_sections(results: dict[str, Any]) -> list[str]:
    return [name for name in SECTIONS if "error" in results.get(name, {})]


def _section_rows(name: str, results: dict[str, Any], work: Workload) -> list[list[str]]:
    if "error" in results[name]:
        return [[f"{name}: FAILED (see below)", "", "", "", "", "", ""]]
    return ROW_BUILDERS[name](results, work)


def markdown(results: dict[str, Any], work: Workload) -> str:
    """The table of results.md: every measure, its ratio to the floor and its target."""
    m = results["machine"]
    git = m["git"]
    lines = [
        f"# calcscan performance{' (smoke workload)' if results['smoke'] else ''}",
        "",
        f"{m['cpu_model']}, {m['usable_cores']} cores, {m['ram_gib']} GiB, Python {m['python']}, "
        f"calcscan {m['versions']['calcscan']} at {git['commit']}{' (dirty tree)' if git['dirty'] else ''}, "
        f"{m['date']}; median (and min) of {results['repeat']} runs, warm page cache.",
        "",
        TABLE_HEADER,
        "|---|---|---:|---:|---|---|---|",
    ]
    for name in SECTIONS:
        if name in results:
            lines += ["| " + " | ".join(row) + " |" for row in _section_rows(name, results, work)]
    lines += ["", *results.get("notes", [])]
    lines += [f"{name} failed: {results[name]['error']}" for name in failed_sections(results)]
    return "\n".join(lines) + "\n"


# --- main ------------------------------------------------------------------------------------


def notes(results: dict[str, Any]) -> list[str]:
    """What the reader must know to trust the table."""
    run = _dig(results, "run", "main") or {}
    out = []
    if run and run.get("stage_seconds") is None:
        out.append("run.json has no stage_seconds: per-stage times not reported.")
    if run and run.get("peak_rss_mb") is None:
        out.append("run.json has no peak_rss_mb: the memory target is not measured.")
    if "process_tree" in results:
        out.append(f"CPU time (wait4) covers {results['process_tree']}.")
    start, end = results["machine"]["load_average_start"], results["load_average_end"]
    out.append(f"Load average (1, 5, 15 min) at start {start}, at end {end}: the machine is shared.")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, help="Workload folder [default: benchmarks/data, smoke: benchmarks/data/smoke]."
    )
    parser.add_argument(
        "--out", type=Path, help="Where results.json/.md go [default: benchmarks/, smoke: the data folder]."
    )
    parser.add_argument("--repeat", type=int, default=3, help="Runs per timed figure (median and min kept).")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="Run only these sections (repeatable)."
    )
    parser.add_argument("--smoke", action="store_true", help="A tiny workload that runs in seconds.")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.data = args.data or (HERE / "data" / "smoke" if args.smoke else HERE / "data")
    args.out = args.out or (args.data if args.smoke else HERE)
    return args


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    work = smoke_workload() if args.smoke else full_workload()
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "smoke": args.smoke,
        "repeat": args.repeat,
        "machine": machine(),
    }
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]
    groups = {g for s in sections for g in SECTION_STUDIES[s]}
    folders = prepare(
        args.data.resolve(), work, groups, lambda text: print(text, file=sys.stderr, flush=True)
    )
    results["workload"] = {key: str(path) for key, path in folders.items()}
    results["process_tree"] = (
        "all processes (subreaper)" if become_subreaper() else "calcscan's main process only"
    )
    with tempfile.TemporaryDirectory(prefix="calcscan-bench-") as scratch:
        bench = Bench(work, folders, args.repeat, load_config(), Path(scratch))
        for name in sections:
            results[name] = measure_section(name, bench)
    results["targets"] = targets(results)
    results["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    results["notes"] = notes(results)
    return results


def measure_section(name: str, bench: Bench) -> dict[str, Any]:
    """One section's results, or its error: a pipeline that breaks one section (the code is
    being changed while it is measured) must not lose the figures of the others."""
    print(f"measuring {name}...", file=sys.stderr, flush=True)
    try:
        return SECTION_RUNNERS[name](bench)
    except Exception as exc:
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"[:4000]}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work = smoke_workload() if args.smoke else full_workload()
    results = run_benchmark(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    table = markdown(results, work)
    (args.out / "results.md").write_text(table, encoding="utf-8")
    print(table)
    if failed_sections(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
