"""Generate a body-part study (head_neck, arterial_chest, hands_feet) from its PartModel.

Same steps and random streams as generate.py (body, grid, noise, deposits), plus the
physiologic calcifications, metal drawn on the known grid and the truth.json keys only
these scenarios have (`incidental`, `blood_pool_hu`, `metal`, ...).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pipeline.phantom import metal as metal_mod
from pipeline.phantom.anatomy import Anatomy
from pipeline.phantom.bodypart import MIN_DEPOSIT_MM3, MetalPart, PartModel, PlacedIncidental, part_grid
from pipeline.phantom.ct import ScannerModel, add_deposits, scan, tissue_hu
from pipeline.phantom.deposits import draw
from pipeline.phantom.generate import Phantom
from pipeline.phantom.grid import Grid
from pipeline.phantom.labels import T
from pipeline.phantom.placement import Placer, laterality_of
from pipeline.phantom.scenarios import Scenario
from pipeline.phantom.scene import Fill, render
from pipeline.phantom.sdf import chain
from pipeline.phantom.sizes import SizePreset

INCIDENTAL_FILE = "truth_incidental.nii.gz"


def make_part_phantom(scenario: Scenario, seed: int, preset: SizePreset, grid_for: Any = None) -> Phantom:
    assert scenario.part is not None
    streams = np.random.SeedSequence(seed).spawn(6)
    body_rng, grid_rng, noise_rng = (np.random.default_rng(s) for s in streams[:3])
    dep_rng = np.random.default_rng(np.random.SeedSequence([seed, *scenario.name.encode()]))
    timings: dict[str, float] = {}
    t = time.perf_counter()
    model = scenario.part(seed, body_rng, dep_rng)
    grid = part_grid(model, preset, grid_rng) if grid_for is None else grid_for(model.anatomy)
    labels = render(model.anatomy.ops, grid)
    _draw_metal(labels, grid, model.metal)
    timings["anatomy"] = time.perf_counter() - t
    t = time.perf_counter()
    placer = Placer(
        model.anatomy,
        grid,
        labels,
        dep_rng,
        preset.min_deposit_voxels,
        sites=model.sites,
        min_mm3=MIN_DEPOSIT_MM3,
    )
    deposits = placer.place_all(model.plans)
    incidental = _place_incidental(model, grid, labels)
    timings["deposits"] = time.perf_counter() - t
    t = time.perf_counter()
    hu = tissue_hu(labels, model.table, noise_rng)
    for inc in incidental:
        sub = hu[inc.dm.window.slices]
        f = inc.dm.occupancy
        sub[...] = sub * (1 - f) + f * np.float32(inc.plan.density_hu)
    add_deposits(hu, deposits, noise_rng)
    streak = None
    if model.streak_hu > 0:
        streak = metal_mod.streaks(labels, grid.spacing[0], noise_rng, model.streak_hu)
    noise_sd = round(float(noise_rng.uniform(*preset.noise_sd)), 1)
    ct = scan(hu, labels, ScannerModel(noise_sd), noise_rng, streak)
    timings["ct"] = time.perf_counter() - t
    return Phantom(
        scenario,
        seed,
        preset,
        model.anatomy,
        grid,
        labels,
        deposits,
        ct,
        noise_sd,
        None,
        None,
        timings,
        incidental=incidental,
        part=model,
    )


def _draw_metal(labels: np.ndarray, grid: Grid, parts: list[MetalPart]) -> None:
    """Thin wires: each loop on the slice nearest its height, at least ~0.75 voxel thick,
    so that it is one unbroken line of metal voxels as on a real scan."""
    if not parts:
        return
    zs = grid.axis(2)
    ops = []
    for part in parts:
        pts = [np.asarray(p, dtype=float).copy() for p in part.points]
        z = float(np.mean([p[2] for p in pts]))
        z_snap = float(zs[int(np.argmin(np.abs(zs - z)))])
        for p in pts:
            p[2] += z_snap - z
        r = max(part.radius_mm, 0.75 * grid.spacing[0])
        ops.append(Fill(T.METAL, chain(pts, r)))
    labels[...] = np.maximum(labels, 0)  # keep dtype; paint below
    painted = render(ops, grid)
    labels[painted == T.METAL] = T.METAL


def _place_incidental(model: PartModel, grid: Grid, labels: np.ndarray) -> list[PlacedIncidental]:
    out: list[PlacedIncidental] = []
    for plan in model.incidental:
        dm = draw(plan.clump, grid, labels, plan.allowed)
        if dm is None or dm.n_voxels == 0:
            continue
        k, j, i = np.nonzero(dm.mask)
        w = dm.window
        centroid = np.array([w.x.ravel()[0], w.y.ravel()[0], w.z.ravel()[0]]) + np.array(
            [i.mean(), j.mean(), k.mean()]
        ) * np.asarray(grid.spacing)
        out.append(PlacedIncidental(len(out) + 1, plan, dm, centroid))
    return out


def incidental_labels(ph: Phantom) -> np.ndarray:
    out = np.zeros(ph.labels.shape, dtype=np.uint8)
    for inc in ph.incidental:
        out[inc.dm.window.slices][inc.dm.mask] = inc.number
    return out


def truth_extra(ph: Phantom) -> dict[str, Any]:
    """The truth.json keys of a body-part study (added after the common ones)."""
    model: PartModel = ph.part
    g = ph.grid
    incidental = []
    for inc in ph.incidental:
        k, j, i = np.nonzero(inc.dm.mask)
        w = inc.dm.window
        lo = g.to_lps([w.x.ravel()[i.min()], w.y.ravel()[j.min()], w.z.ravel()[k.min()]])
        hi = g.to_lps([w.x.ravel()[i.max()], w.y.ravel()[j.max()], w.z.ravel()[k.max()]])
        incidental.append(
            {
                "id": f"I{inc.number}",
                "label": inc.number,
                "kind": inc.plan.kind,
                "name": inc.plan.name,
                "region": inc.plan.region,
                "laterality": laterality_of(float(inc.centroid_body[0])),
                "centroid_lps_mm": list(g.to_lps(inc.centroid_body)),
                "volume_mm3": inc.dm.n_voxels * g.voxel_volume,
                "n_voxels": inc.dm.n_voxels,
                "density_hu": inc.plan.density_hu,
                "bbox_lps_mm": [list(lo), list(hi)],
            }
        )
    metal = []
    for part in model.metal:
        pts = np.array(part.points, dtype=float)
        mid = pts.mean(axis=0)
        metal.append(
            {
                "kind": part.kind,
                "name": part.name,
                "centroid_lps_mm": list(g.to_lps(mid)),
                "bbox_lps_mm": [list(g.to_lps(pts.min(axis=0))), list(g.to_lps(pts.max(axis=0)))],
                "wire_radius_mm": part.radius_mm,
            }
        )
    out: dict[str, Any] = {
        "body_part": model.body_part,
        "incidental": incidental,
        "incidental_label_file": INCIDENTAL_FILE,
        "metal": metal,
    }
    out.update(model.extra)
    return out


def part_landmarks(anatomy: Anatomy) -> dict[str, np.ndarray]:
    return anatomy.landmarks
