"""The workload of bench_performance.py: phantom studies written as real DICOM, cached on disk.

Generating a clinical-size study takes tens of seconds and gigabytes of memory, so each
study folder carries a small spec.json; a folder is reused when its spec.json matches the
spec asked for and is written again otherwise (spec.json is written last, so a generation
that was interrupted is never mistaken for a complete one).
"""

from __future__ import annotations

import gc
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

# bump when the way studies are generated changes, so cached folders are written again
WORKLOAD_VERSION = 1
SPEC_FILE = "spec.json"
BODY_OFFSET = (1.5, 140.0, -700.0)  # body frame -> LPS, as a scanner would place the patient
RADIOGRAPH_KEY = "calcscan-bench-radiograph"
GROUPS = ("main", "rle", "slices", "throughput", "radiograph")


@dataclass(frozen=True)
class CTSpec:
    """One phantom CT study: which body (scenario, seed) and how it is scanned and stored."""

    scenario: str
    seed: int
    slices: int
    slice_mm: float
    matrix: int = 512
    pixel_mm: float = 0.7
    compression: str = "none"
    size: str = "clinical"  # the phantom size preset: noise, smallest deposit, radiograph grid

    @property
    def int16_mib(self) -> float:
        """Size of the volume as int16 voxels, the yardstick of the memory target."""
        return self.slices * self.matrix * self.matrix * 2 / 2**20


@dataclass(frozen=True)
class RadiographSpec:
    """A hand radiograph resampled to a detector of `rows` x `columns` pixels."""

    scenario: str
    seed: int
    rows: int
    columns: int
    pixel_mm: float
    size: str = "clinical"


@dataclass(frozen=True)
class Workload:
    main: CTSpec
    rle: CTSpec
    sweep: tuple[CTSpec, ...]
    throughput: tuple[CTSpec, ...]
    radiograph: RadiographSpec


def full_workload() -> Workload:
    """Clinical size: 512 x 512 at 0.7 mm, 400 slices of 1.25 mm; a 2000 x 2500 film."""
    main = CTSpec("tumoral", 0, 400, 1.25)
    sweep = tuple(CTSpec("tumoral", 0, n, 1.0) for n in (100, 300, 600))
    names = ("tumoral", "dystrophic", "metastatic", "healthy")
    throughput = tuple(CTSpec(name, seed, 300, 1.0) for seed, name in enumerate(names, start=1))
    return Workload(
        main,
        replace(main, compression="rle"),
        sweep,
        throughput,
        RadiographSpec("dystrophic", 0, 2500, 2000, 0.1),
    )


def smoke_workload() -> Workload:
    """The same structure at a size that runs in seconds (the test of the benchmark)."""
    small = {"matrix": 64, "pixel_mm": 5.0, "size": "small"}
    main = CTSpec("tumoral", 0, 24, 5.0, **small)
    sweep = tuple(CTSpec("tumoral", 0, n, 5.0, **small) for n in (10, 20, 30))
    throughput = (CTSpec("tumoral", 1, 16, 5.0, **small), CTSpec("healthy", 2, 16, 5.0, **small))
    radiograph = RadiographSpec("dystrophic", 0, 250, 200, 1.0, size="small")
    return Workload(main, replace(main, compression="rle"), sweep, throughput, radiograph)


def study_folders(root: Path, work: Workload) -> dict[str, Path]:
    """Where each study lives under the data folder (throughput studies share one parent)."""
    folders = {"main": root / "ct-main", "rle": root / "ct-main-rle", "radiograph": root / "radiograph"}
    folders["throughput"] = root / "throughput"
    folders |= {f"slices-{s.slices}": root / f"slices-{s.slices}" for s in work.sweep}
    folders |= {
        f"throughput/{s.scenario}-{s.seed}": root / "throughput" / f"{s.scenario}-{s.seed}"
        for s in work.throughput
    }
    return folders


def prepare(
    root: Path, work: Workload, groups: Iterable[str] = GROUPS, log: Callable[[str], None] = print
) -> dict[str, Path]:
    """Every study folder of `work` under `root`; those of `groups` (main, rle, slices,
    throughput, radiograph) are generated when missing or out of date."""
    folders = study_folders(root, work)
    wanted = set(groups)
    ct: list[tuple[Path, CTSpec]] = []
    ct += [(folders[key], getattr(work, key)) for key in ("main", "rle") if key in wanted]
    if "slices" in wanted:
        ct += [(folders[f"slices-{s.slices}"], s) for s in work.sweep]
    if "throughput" in wanted:
        keep = [(folders[f"throughput/{s.scenario}-{s.seed}"], s) for s in work.throughput]
        _drop_stale_throughput(folders["throughput"], {f for f, _ in keep})
        ct += keep
    _ensure_cts([(f, s) for f, s in ct if not _is_current(f, s)], log)
    if "radiograph" in wanted and not _is_current(folders["radiograph"], work.radiograph):
        log(f"generating {folders['radiograph']}")
        _write_radiograph_study(folders["radiograph"], work.radiograph)
    return folders


def _spec_record(spec: CTSpec | RadiographSpec) -> dict:
    return {"workload_version": WORKLOAD_VERSION, "kind": type(spec).__name__, **asdict(spec)}


def _is_current(folder: Path, spec: CTSpec | RadiographSpec) -> bool:
    try:
        return json.loads((folder / SPEC_FILE).read_text(encoding="utf-8")) == _spec_record(spec)
    except (OSError, ValueError):
        return False


def _mark_current(folder: Path, spec: CTSpec | RadiographSpec) -> None:
    (folder / SPEC_FILE).write_text(json.dumps(_spec_record(spec), indent=2) + "\n", encoding="utf-8")


def _drop_stale_throughput(parent: Path, wanted: set[Path]) -> None:
    """Studies of an earlier throughput set would be analysed with the current ones."""
    if parent.is_dir():
        for child in parent.iterdir():
            if child not in wanted:
                shutil.rmtree(child) if child.is_dir() else child.unlink()


def _ensure_cts(todo: list[tuple[Path, CTSpec]], log: Callable[[str], None]) -> None:
    """Write the studies in `todo`, one phantom per body and geometry (the RLE copy of the
    main study reuses its phantom), freeing each phantom before the next is built."""
    from pipeline.phantom.generate import make_phantom, write

    by_body: dict[CTSpec, list[tuple[Path, CTSpec]]] = {}
    for folder, spec in todo:
        by_body.setdefault(replace(spec, compression="none"), []).append((folder, spec))
    for body, targets in by_body.items():
        log(f"generating {body.scenario} seed {body.seed}: {body.matrix}x{body.matrix}x{body.slices}")
        phantom = make_phantom(body.scenario, body.seed, body.size, grid_for=ct_grid(body))
        for folder, spec in targets:
            shutil.rmtree(folder, ignore_errors=True)
            write(phantom, folder, spec.compression)
            _mark_current(folder, spec)
        del phantom
        gc.collect()


def ct_grid(spec: CTSpec) -> Callable:
    """The grid function of make_phantom: a square field on the trunk's centre from just below
    the femoral heads upwards, `spec.slices` slices of `spec.slice_mm`."""
    from pipeline.phantom.grid import Grid

    def grid_for(anatomy) -> Grid:
        dx, m = spec.pixel_mm, spec.matrix
        yc = -float(anatomy.layout.trunk_b.v.max())  # the back lies on y = 0
        z0 = -75 * anatomy.layout.s
        origin = (-dx * (m - 1) / 2, yc - dx * (m - 1) / 2, z0)
        return Grid((spec.slices, m, m), (dx, dx, spec.slice_mm), origin, BODY_OFFSET)

    return grid_for


def _coarse_body_grid(anatomy):
    """A 4 mm grid over the whole body: deposits are placed on it, the hand film is computed
    on the radiograph's own fine grid, so the CT of this phantom can be cheap."""
    from pipeline.phantom.grid import Grid

    dx = 4.0
    m = int(2 * (anatomy.half_width() + 20) / dx) + 1
    z0, z1 = anatomy.z_range
    yc = -float(anatomy.layout.trunk_b.v.max())
    return Grid(
        (int((z1 - z0) / dx) + 1, m, m),
        (dx, dx, dx),
        (-dx * (m - 1) / 2, yc - dx * (m - 1) / 2, z0),
        BODY_OFFSET,
    )


def _write_radiograph_study(folder: Path, spec: RadiographSpec) -> None:
    """A phantom hand film resampled to the detector size, alone in its own study."""
    from pipeline.phantom.generate import make_phantom

    phantom = make_phantom(spec.scenario, spec.seed, spec.size, grid_for=_coarse_body_grid)
    if phantom.projection is None:
        raise ValueError(f"scenario {spec.scenario} has no hand radiograph")
    pixels = detector_image(phantom.projection.pixels, phantom.projection.spacing, spec, spec.seed)
    side = phantom.projection.side
    del phantom
    shutil.rmtree(folder, ignore_errors=True)
    _write_film(folder, pixels, spec, side)
    _mark_current(folder, spec)


def detector_image(pixels: np.ndarray, spacing: float, spec: RadiographSpec, seed: int) -> np.ndarray:
    """`pixels` at `spacing` mm resampled to `spec.pixel_mm` and cut or padded to exactly
    rows x columns. Padding is done before resampling with the film's own air level and
    noise, so the added border has the same noise texture as the rest of the image."""
    factor = spacing / spec.pixel_mm
    need = (int(np.ceil(spec.rows / factor)) + 2, int(np.ceil(spec.columns / factor)) + 2)
    native = _fit(pixels, need, _air_filler(pixels, np.random.default_rng(seed)))
    zoomed = ndimage.zoom(native, factor, order=1)
    return _fit(zoomed, (spec.rows, spec.columns), None).astype(np.float32)


def _air_filler(pixels: np.ndarray, rng: np.random.Generator) -> Callable[[tuple[int, int]], np.ndarray]:
    """Air level and noise measured on the film's left and right edges (a hand PA film has
    air beside the hand), as a function drawing background of a given shape."""
    edges = np.concatenate([pixels[:, :8].ravel(), pixels[:, -8:].ravel()])
    level, sd = float(np.median(edges)), float(np.std(edges))
    return lambda shape: rng.normal(level, sd, shape).astype(np.float32)


def _fit(image: np.ndarray, shape: tuple[int, int], filler: Callable | None) -> np.ndarray:
    """Centre-crop `image` to `shape`, padding with `filler(shape)` where it is smaller."""
    out = filler(shape) if filler is not None else np.zeros(shape, np.float32)
    src, dst = [], []
    for have, want in zip(image.shape, shape, strict=True):
        if have >= want:
            start = (have - want) // 2
            src.append(slice(start, start + want))
            dst.append(slice(0, want))
        else:
            start = (want - have) // 2
            src.append(slice(0, have))
            dst.append(slice(start, start + have))
    out[tuple(dst)] = image[tuple(src)]
    return out


def _write_film(folder: Path, pixels: np.ndarray, spec: RadiographSpec, side: str) -> None:
    from pipeline.dicom.write import StudyMeta, uid_from, write_radiograph

    key = (RADIOGRAPH_KEY, spec.scenario, spec.seed, spec.rows, spec.columns)
    study = StudyMeta(
        study_uid=uid_from(*key, "study"),
        patient_id=f"BENCH-XR-{spec.seed}",
        patient_name="BENCH^RADIOGRAPH",
        study_description=f"calcscan benchmark hand radiograph {spec.columns}x{spec.rows}",
    )
    write_radiograph(
        pixels,
        folder / "DX" / "DX0001.dcm",
        study,
        series_uid=uid_from(*key, "dx"),
        sop_instance_uid=uid_from(*key, "dx", "image"),
        modality="DX",
        series_description=f"XR hand PA {side}",
        imager_pixel_spacing=(spec.pixel_mm, spec.pixel_mm),
        magnification=1.0,
        body_part="HAND",
        view_position="PA",
        laterality="L" if side == "left" else "R",
        patient_orientation=("L", "H"),
    )
