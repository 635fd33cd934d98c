"""Generate one phantom study: anatomy, deposits, CT (and radiograph), DICOM and truth.

Everything is drawn from `numpy.random.SeedSequence(seed)`: the body from one child
stream (so the same seed gives the same body in every scenario), the deposits, the grid,
the noise and the radiograph from others. UIDs come from `uid_from` with the scenario, seed
and size, dates are fixed: the same command writes the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from pipeline.dicom.write import StudyMeta, uid_from, write_ct_series, write_radiograph
from pipeline.phantom import metal
from pipeline.phantom.anatomy import Anatomy, build_anatomy
from pipeline.phantom.ct import ScannerModel, add_deposits, grid_psf_mm, scan, tissue_hu
from pipeline.phantom.grid import Grid
from pipeline.phantom.labels import LEGACY_LAST, T, hu_table
from pipeline.phantom.layout import BodyParams
from pipeline.phantom.placement import PlacedDeposit, Placer
from pipeline.phantom.radiograph import BONE_FRACTION_VISIBLE, CNR_VISIBLE, Projection, project_hand
from pipeline.phantom.scenarios import SCENARIOS, Scenario
from pipeline.phantom.scene import render
from pipeline.phantom.sizes import SIZES, SizePreset, make_grid
from pipeline.phantom.truth import (
    LATERALITY_RULE,
    LOBES_DEFINITION,
    SCHEMA,
    VOLUME_DEFINITION,
    CTTruth,
    DepositTruth,
    RadiographHitTruth,
    RadiographTruth,
    Truth,
    write_label_mask,
    write_truth,
)

TRANSFER_SYNTAXES = {
    "none": ExplicitVRLittleEndian,
    "rle": RLELossless,
    "j2k": JPEG2000Lossless,
    "deflate": "1.2.840.10008.1.2.1.99",
}
STUDY_DATE = "20260101"


@dataclass
class Phantom:
    """A generated study held in memory (the tests use the label map; nothing of it is
    written except through `write`)."""

    scenario: Scenario
    seed: int
    size: SizePreset
    anatomy: Anatomy
    grid: Grid
    labels: np.ndarray  # anatomical tissue labels (T) before deposits, (z, y, x)
    deposits: list[PlacedDeposit]
    hu: np.ndarray  # int16 CT numbers, (z, y, x)
    noise_sd: float
    implant_side: str | None
    projection: Projection | None
    timings: dict[str, float] = field(default_factory=dict)
    incidental: list[Any] = field(default_factory=list)  # body-part scenarios: PlacedIncidental
    part: Any = None  # body-part scenarios: their PartModel

    def deposit_labels(self) -> np.ndarray:
        out = np.zeros(self.labels.shape, dtype=np.uint16 if len(self.deposits) > 255 else np.uint8)
        for dep in self.deposits:
            out[dep.dm.window.slices][dep.dm.mask] = dep.number
        return out


def make_phantom(
    scenario_name: str,
    seed: int = 0,
    size: str = "default",
    grid_for: Callable[[Anatomy], Grid] | None = None,
) -> Phantom:
    """Build a study in memory (no files). `grid_for(anatomy)` replaces the size's CT grid
    (the benchmarks scan part of the body at a chosen matrix, pixel and slice spacing)."""
    scenario, preset = SCENARIOS[scenario_name], SIZES[size]
    if scenario.part is not None:
        from pipeline.phantom.generate_part import make_part_phantom

        return make_part_phantom(scenario, seed, preset, grid_for)
    streams = np.random.SeedSequence(seed).spawn(6)
    body_rng, grid_rng, noise_rng, xray_rng = (np.random.default_rng(s) for s in streams[:4])
    dep_rng = np.random.default_rng(np.random.SeedSequence([seed, *scenario_name.encode()]))
    timings: dict[str, float] = {}
    t = time.perf_counter()
    params = BodyParams.sample(body_rng, with_head=scenario.head)
    implant_side = None
    extra = []
    anatomy = build_anatomy(params, body_rng)
    if scenario.metal:
        implant_side = "left" if dep_rng.random() < 0.5 else "right"
        extra = metal.implant_ops(anatomy.layout, implant_side)
        anatomy.ops.extend(extra)
    grid = make_grid(anatomy, preset, grid_rng) if grid_for is None else grid_for(anatomy)
    labels = render(anatomy.ops, grid)
    timings["anatomy"] = time.perf_counter() - t
    t = time.perf_counter()
    placer = Placer(anatomy, grid, labels, dep_rng, preset.min_deposit_voxels)
    deposits = placer.place_all(scenario.planner(dep_rng))
    timings["deposits"] = time.perf_counter() - t
    t = time.perf_counter()
    table = hu_table(scenario.contrast, params.arterial_hu)
    hu = tissue_hu(labels, table, noise_rng)
    add_deposits(hu, deposits, noise_rng)
    streak = None
    if scenario.metal:
        streak = metal.streaks(labels, grid.spacing[0], noise_rng, float(noise_rng.uniform(250, 400)))
    noise_sd = round(float(noise_rng.uniform(*preset.noise_sd)), 1)
    ct = scan(hu, labels, ScannerModel(noise_sd), noise_rng, streak)
    timings["ct"] = time.perf_counter() - t
    projection = None
    if scenario.hand_radiograph:
        t = time.perf_counter()
        side = _radiograph_side(deposits)
        projection = project_hand(anatomy, side, deposits, preset.drr_mm, xray_rng)
        timings["radiograph"] = time.perf_counter() - t
    return Phantom(
        scenario,
        seed,
        preset,
        anatomy,
        grid,
        labels,
        deposits,
        ct,
        noise_sd,
        implant_side,
        projection,
        timings,
    )


def _radiograph_side(deposits: list[PlacedDeposit]) -> str:
    """The hand with more deposits (ties: right)."""
    left = sum(1 for d in deposits if d.site.region in ("hand", "forearm") and d.centroid_body[0] > 0)
    right = sum(1 for d in deposits if d.site.region in ("hand", "forearm") and d.centroid_body[0] < 0)
    return "left" if left > right else "right"


@dataclass(frozen=True)
class Written:
    out_dir: Path
    ct_files: list[Path]
    radiograph_files: list[Path]
    truth: Path
    label_mask: Path


def write(ph: Phantom, out_dir: Path, compression: str = "rle") -> Written:
    """Write the CT series, radiographs, truth.json and truth_labels.nii.gz to `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    key = ("calcscan-phantom", ph.scenario.name, ph.seed, ph.size.name)
    name = ph.scenario.name.upper()
    study = StudyMeta(
        study_uid=uid_from(*key, "study"),
        patient_id=f"PHANTOM-{name}-{ph.seed}",
        patient_name=f"PHANTOM^{name}",
        patient_birth_date="19700101",
        patient_sex="O",
        study_date=STUDY_DATE,
        study_time="120000",
        accession_number=f"PH{ph.seed % 10**8:08d}",
        study_description=f"calcscan phantom {ph.scenario.name} ({ph.size.name})",
    )
    ts = TRANSFER_SYNTAXES[compression]
    series_uid, for_uid = uid_from(*key, "ct"), uid_from(*key, "for")
    ct_files = write_ct_series(
        ph.hu,
        ph.grid.affine,
        out_dir / "CT",
        study,
        series_uid=series_uid,
        frame_of_reference_uid=for_uid,
        series_number=1,
        series_description=f"CT {ph.scenario.body_part.replace('_', ' ').lower()} phantom",
        kvp=120.0,
        body_part=ph.part.body_part if ph.part is not None else ph.scenario.body_part,
        contrast_agent="IOHEXOL 350 MG/ML" if ph.scenario.contrast else None,
        slice_thickness=ph.grid.spacing[2],
        transfer_syntax=ts,
    )
    radiographs: list[RadiographTruth] = []
    x_files: list[Path] = []
    hits: dict[int, list[RadiographHitTruth]] = {d.number: [] for d in ph.deposits}
    if ph.projection is not None:
        rt, path = _write_radiograph(ph, ph.projection, out_dir, study, key, ts)
        radiographs.append(rt)
        x_files.append(path)
        for number, hit in ph.projection.hits.items():
            hits[number].append(
                RadiographHitTruth(
                    rt.sop_instance_uid,
                    hit.in_field,
                    list(hit.centroid_px) if hit.centroid_px else None,
                    hit.visible,
                    hit.cnr,
                )
            )
    mask_path = write_label_mask(ph.deposit_labels(), ph.grid, out_dir)
    if ph.part is not None:
        from pipeline.phantom.generate_part import INCIDENTAL_FILE, incidental_labels

        write_label_mask(incidental_labels(ph), ph.grid, out_dir, INCIDENTAL_FILE)
    truth = _truth(ph, study.study_uid, series_uid, for_uid, compression, radiographs, hits)
    truth_path = write_truth(truth, out_dir)
    ph.timings["write"] = time.perf_counter() - t
    return Written(out_dir, ct_files, x_files, truth_path, mask_path)


def _write_radiograph(
    ph: Phantom, proj: Projection, out_dir: Path, study: StudyMeta, key: tuple, ts: str
) -> tuple[RadiographTruth, Path]:
    series_uid = uid_from(*key, "dx")
    sop_uid = uid_from(*key, "dx", "image")
    path = out_dir / "DX" / "DX0001.dcm"
    lat = "L" if proj.side == "left" else "R"
    write_radiograph(
        proj.pixels,
        path,
        study,
        series_uid=series_uid,
        sop_instance_uid=sop_uid,
        modality="DX",
        series_number=100,
        series_description=f"XR hand PA {proj.side}",
        imager_pixel_spacing=(proj.spacing, proj.spacing),
        magnification=1.0,
        body_part="HAND",
        view_position="PA",
        laterality=lat,
        patient_orientation=("L", "H"),
        transfer_syntax=ts,
    )
    off = ph.grid.offset
    rows, cols = proj.pixels.shape
    rt = RadiographTruth(
        file="DX/DX0001.dcm",
        sop_instance_uid=str(sop_uid),
        series_instance_uid=str(series_uid),
        modality="DX",
        body_part="HAND",
        view_position="PA",
        laterality=lat,
        rows=rows,
        columns=cols,
        pixel_spacing_mm=[proj.spacing, proj.spacing],
        projection={
            "beam": "parallel, along LPS y (magnification 1)",
            "column_axis_lps": [1.0, 0.0, 0.0],
            "row_axis_lps": [0.0, 0.0, 1.0],
            "pixel_00_lps_xz_mm": [proj.x0 + off[0], proj.z0 + off[2]],
            "noise_sd": proj.noise_sd,
        },
        visibility_rule=(
            f"visible when peak deposit signal / detector noise SD >= {CNR_VISIBLE} and the "
            f"peak is >= {BONE_FRACTION_VISIBLE} x the bone signal at that pixel"
        ),
    )
    return rt, path


def _truth(
    ph: Phantom,
    study_uid: str,
    series_uid: str,
    for_uid: str,
    compression: str,
    radiographs: list[RadiographTruth],
    hits: dict[int, list[RadiographHitTruth]],
) -> Truth:
    g = ph.grid
    psf_xy, psf_z = grid_psf_mm(g)
    ct = CTTruth(
        series_instance_uid=str(series_uid),
        frame_of_reference_uid=str(for_uid),
        directory="CT",
        n_slices=g.shape[0],
        shape_zyx=list(g.shape),
        spacing_xyz_mm=list(g.spacing),
        origin_lps_mm=list(g.affine[:3, 3]),
        affine=g.affine.tolist(),
        slice_order="CT0001 is the lowest slice; z (LPS, towards the head) increases with the file number",
        transfer_syntax=str(TRANSFER_SYNTAXES[compression]),
        contrast=ph.scenario.contrast,
        metal_implant=ph.implant_side,
        psf_sigma_mm=[psf_xy, psf_xy, psf_z],
        noise_sd_hu=ph.noise_sd,
    )
    deposits = [_deposit_truth(ph, d, hits.get(d.number, [])) for d in ph.deposits]
    drawn = np.bincount(ph.labels.ravel(), minlength=256) > 0
    return Truth(
        schema=SCHEMA,
        scenario=ph.scenario.name,
        pattern=ph.scenario.pattern,
        description=ph.scenario.description,
        seed=ph.seed,
        size=ph.size.name,
        generator=(
            f"calcscan phantom {ph.scenario.name} --seed {ph.seed} --size {ph.size.name} "
            f"--compression {compression}"
        ),
        study_instance_uid=str(study_uid),
        ct=ct,
        deposits=deposits,
        radiographs=radiographs,
        midline_x_lps_mm=g.offset[0],
        landmarks_lps_mm={k: list(g.to_lps(v)) for k, v in sorted(ph.anatomy.landmarks.items())},
        definitions={
            "volume_mm3": VOLUME_DEFINITION,
            "lobes": LOBES_DEFINITION,
            "laterality": LATERALITY_RULE,
            "centroid_lps_mm": "mean LPS position of the mask voxels",
            "tissue_labels": ", ".join(f"{t.value}={t.name}" for t in T if t <= LEGACY_LAST or drawn[t]),
        },
        extra=_part_truth(ph),
    )


def _part_truth(ph: Phantom) -> dict[str, Any]:
    if ph.part is None:
        return {}
    from pipeline.phantom.generate_part import truth_extra

    return truth_extra(ph)


def _deposit_truth(ph: Phantom, d: PlacedDeposit, hits: list[RadiographHitTruth]) -> DepositTruth:
    g = ph.grid
    vol = d.dm.n_voxels * g.voxel_volume
    k, j, i = np.nonzero(d.dm.mask)
    w = d.dm.window
    lo = g.to_lps([w.x.ravel()[i.min()], w.y.ravel()[j.min()], w.z.ravel()[k.min()]])
    hi = g.to_lps([w.x.ravel()[i.max()], w.y.ravel()[j.max()], w.z.ravel()[k.max()]])
    return DepositTruth(
        id=d.id,
        label=d.number,
        site=d.site.name,
        region=d.site.region,
        tissue=d.site.tissue,
        laterality=d.laterality,
        centroid_lps_mm=list(g.to_lps(d.centroid_body)),
        volume_mm3=vol,
        n_voxels=d.dm.n_voxels,
        lobes=d.lobes,
        components=len(d.clump.lobes),
        density_hu=d.density_hu,
        equivalent_diameter_mm=float((6 * vol / np.pi) ** (1 / 3)),
        bbox_lps_mm=[list(lo), list(hi)],
        radiographs=hits,
    )
