"""A metal hip prosthesis (negative control) and the streak artefacts it causes.

The implant replaces the femoral head and neck: an acetabular cup with a polyethylene
liner, a metal head, neck and a stem down the femoral canal. Streaks are simulated the way
they arise: per slice, the metal's path lengths are forward-projected, a beam-hardening
error that grows with the square of the path plus photon-starvation noise is put in the
sinogram and filtered back-projected into the image.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.transform import iradon, radon

from pipeline.phantom.labels import BONE_LABELS, T
from pipeline.phantom.layout import Layout
from pipeline.phantom.scene import Fill, Op
from pipeline.phantom.sdf import Capsule, HalfSpace, Intersect, Sphere, Subtract, Union, vec

STREAK_PIXELS = 128  # slices are downsampled to about this for the projection model


def implant_ops(lay: Layout, side: str) -> list[Op]:
    hip, s = lay.hips[side], lay.s
    sg, h, r = hip.sg, hip.head, hip.head_radius
    n_open = vec([sg * 0.62, -0.35, -0.7])
    n_open = n_open / np.linalg.norm(n_open)
    resected = Union((Sphere(h, r + 2.0 * s), Capsule(h, hip.neck_base, 18 * s)))
    cup = Subtract(
        Intersect(Sphere(h, r + 4 * s), HalfSpace(h + n_open * 3 * s, n_open)), Sphere(h, r + 1 * s)
    )
    axis = hip.knee - hip.shaft_top
    axis = axis / np.linalg.norm(axis)
    stem = Capsule(hip.neck_base, hip.neck_base + axis * 150 * s + vec([-sg * 8, 0, 0]) * s, 9 * s, 5 * s)
    return [
        Fill(T.MUSCLE, resected, within=BONE_LABELS),
        Fill(T.VISCERAL_FAT, Sphere(h, r + 1 * s)),  # polyethylene liner (about -90 HU)
        Fill(T.METAL, cup),
        Fill(T.METAL, Sphere(h, 14 * s)),
        Fill(T.METAL, Capsule(h, hip.neck_base, 7 * s)),
        Fill(T.METAL, stem),
    ]


def streaks(
    labels: np.ndarray, pixel_mm: float, rng: np.random.Generator, amplitude: float
) -> np.ndarray | None:
    """Streak image (HU to add) for every slice that contains metal; None if none does."""
    metal = labels == T.METAL
    slices = np.flatnonzero(metal.any(axis=(1, 2)))
    if slices.size == 0:
        return None
    out = np.zeros(labels.shape, dtype=np.float32)
    n = labels.shape[1]
    factor = max(1, int(np.ceil(n / STREAK_PIXELS)))
    theta = np.linspace(0.0, 180.0, 90, endpoint=False)
    for k in slices:
        small = _downsample(metal[k].astype(np.float32), factor)
        path = radon(small, theta=theta, circle=False) * pixel_mm * factor  # mm of metal
        error = -((path / 10.0) ** 2) + rng.normal(0, 1, path.shape) * np.expm1(path / 25.0) * 0.5
        image = iradon(error, theta=theta, filter_name="ramp", circle=False, output_size=small.shape[0])
        zoomed = ndimage.zoom(image.astype(np.float32), factor, order=1)[:n, :n]
        # streaks are strongest next to the metal and fade across the field
        dist = ndimage.distance_transform_edt(~metal[k]) * pixel_mm
        falloff = 0.25 + 0.75 * np.exp(-dist[: zoomed.shape[0], : zoomed.shape[1]] / 50.0)
        out[k, : zoomed.shape[0], : zoomed.shape[1]] = zoomed * falloff
    scale = amplitude / max(float(np.percentile(np.abs(out[slices]), 99.5)), 1e-6)
    out *= scale
    out[metal] = 0
    return out


def _downsample(img: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return img
    n = img.shape[0]
    pad = (-n) % factor
    img = np.pad(img, ((0, pad), (0, pad)))
    m = img.shape[0] // factor
    return img.reshape(m, factor, m, factor).mean(axis=(1, 3))
