"""Which CT deposits a radiograph of the same study shows, and which it does not.

The seed text notes that CT finds calcinosis in radiographically normal areas; a reader
who has both wants to know which deposits the film alone would have missed. A radiograph
has no patient coordinates, but its PatientOrientation says which patient directions its
rows and columns run along, and its pixel spacing gives millimetres. Projecting the CT
deposits' LPS centroids onto those two directions gives their layout as the film sees it
(a parallel projection), up to a shift and the film's magnification. The shift and
magnification are found by trying every CT deposit / film opacity pair as an anchor and
keeping the one under which most deposits coincide; at least two must coincide before a
deposit is called missing, because one pair always coincides with itself.

Without orientation or spacing, or with fewer than two coinciding deposits, only counts
are compared, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.anatomy.radiograph import radiograph_site
from pipeline.models import Deposit, RadiographComparison, RadiographDeposit, RadiographFindings, StudyResult

TOLERANCE_MM = 8.0  # centroids this close (after registration) are the same deposit
MAGNIFICATIONS = np.arange(0.9, 1.251, 0.025)  # film size / patient size of a projection
FIELD_MARGIN_MM = 2.0
_AXES = {"L": (1, 0, 0), "R": (-1, 0, 0), "P": (0, 1, 0), "A": (0, -1, 0), "H": (0, 0, 1), "F": (0, 0, -1)}
_SIDES = {"left": "right", "right": "left"}


@dataclass(frozen=True)
class _Fit:
    magnification: float
    shift: np.ndarray  # film mm = magnification * projected CT mm + shift
    pairs: dict[int, int]  # CT index -> film index
    error_mm: float


def compare_with_ct(result: StudyResult) -> list[RadiographComparison]:
    """One comparison per analysed radiograph, when the study also has analysed CT."""
    if not result.segmentations:
        return []
    return [compare_one(f, result.deposits) for f in result.radiograph_findings]


def compare_one(findings: RadiographFindings, ct: list[Deposit]) -> RadiographComparison:
    """The comparison of one film; CT deposits on the other side than a one-sided film are
    outside its field whatever the registration."""
    image = findings.image
    region, side, _, _ = radiograph_site(image)
    candidates = [d for d in ct if _SIDES.get(side) != d.laterality]
    compared = _compare(findings, candidates, region)
    compared.outside_field += [d.id for d in ct if d not in candidates]
    return compared


def _compare(findings: RadiographFindings, candidates: list[Deposit], region: str) -> RadiographComparison:
    image = findings.image
    base = RadiographComparison(image.sop_instance_uid, image.series_uid, method="")
    axes = film_axes(image.patient_orientation)
    if axes is None or image.pixel_spacing_mm is None:
        why = "no usable PatientOrientation" if axes is None else "pixel spacing unknown"
        return _by_count(base, findings, candidates, region, f"not registered ({why}): counts compared")
    film = _film_mm(findings.deposits, image.pixel_spacing_mm)
    projected = np.array(
        [[np.dot(d.centroid_lps_mm, axes[1]), np.dot(d.centroid_lps_mm, axes[0])] for d in candidates]
    ).reshape(-1, 2)
    fit = register(projected, film)
    if fit is None or len(fit.pairs) < 2:
        method = "not registered (fewer than 2 deposits coincide): counts compared"
        return _by_count(base, findings, candidates, region, method)
    return _registered(base, findings, candidates, projected, fit)


def film_axes(orientation: tuple[str, str] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """LPS unit vectors of increasing column and increasing row (PatientOrientation's two
    values), None when absent or not made of L R A P H F."""
    if not orientation or len(orientation) != 2:
        return None
    vectors = []
    for value in orientation:
        letters = str(value).strip().upper()
        if not letters or any(ch not in _AXES for ch in letters):
            return None
        v = np.sum([_AXES[ch] for ch in letters], axis=0).astype(float)
        vectors.append(v / np.linalg.norm(v))
    return vectors[0], vectors[1]


def register(projected: np.ndarray, film: np.ndarray) -> _Fit | None:
    """The magnification and shift under which most CT deposits land on film opacities."""
    best: _Fit | None = None
    for m in MAGNIFICATIONS:
        for i in range(len(projected)):
            for j in range(len(film)):
                shift = film[j] - m * projected[i]
                pairs, error = _pairs(m * projected + shift, film)
                if best is None or (len(pairs), -error) > (len(best.pairs), -best.error_mm):
                    best = _Fit(float(m), shift, pairs, error)
    return best


def _pairs(ct: np.ndarray, film: np.ndarray) -> tuple[dict[int, int], float]:
    """One-to-one pairs within TOLERANCE_MM, closest first, and their summed distance."""
    distance = np.linalg.norm(ct[:, None, :] - film[None, :, :], axis=2)
    pairs: dict[int, int] = {}
    total = 0.0
    for flat in np.argsort(distance, axis=None):
        i, j = np.unravel_index(flat, distance.shape)
        if distance[i, j] > TOLERANCE_MM:
            break
        if i not in pairs and j not in pairs.values():
            pairs[int(i)] = int(j)
            total += float(distance[i, j])
    return pairs, total


def _registered(
    base: RadiographComparison,
    findings: RadiographFindings,
    ct: list[Deposit],
    projected: np.ndarray,
    fit: _Fit,
) -> RadiographComparison:
    image = findings.image
    rows_mm = image.pixels.shape[0] * image.pixel_spacing_mm[0]  # type: ignore[index]
    cols_mm = image.pixels.shape[1] * image.pixel_spacing_mm[1]  # type: ignore[index]
    on_film = fit.magnification * projected + fit.shift
    inside = (
        (on_film[:, 0] >= FIELD_MARGIN_MM)
        & (on_film[:, 0] <= rows_mm - FIELD_MARGIN_MM)
        & (on_film[:, 1] >= FIELD_MARGIN_MM)
        & (on_film[:, 1] <= cols_mm - FIELD_MARGIN_MM)
    )
    base.method = (
        f"registered on PatientOrientation {'/'.join(image.patient_orientation or ())}: "
        f"{len(fit.pairs)} deposits coincide within {TOLERANCE_MM:g} mm "
        f"(magnification {fit.magnification:.3f}, mean distance {fit.error_mm / len(fit.pairs):.1f} mm)"
    )
    base.matched = {ct[i].id: findings.deposits[j].id for i, j in sorted(fit.pairs.items())}
    base.not_shown = [d.id for i, d in enumerate(ct) if inside[i] and i not in fit.pairs]
    base.outside_field = [d.id for i, d in enumerate(ct) if not inside[i] and i not in fit.pairs]
    paired_film = set(fit.pairs.values())
    base.unmatched_on_film = [d.id for j, d in enumerate(findings.deposits) if j not in paired_film]
    base.statement = _statement(base)
    return base


def _statement(c: RadiographComparison) -> str:
    if c.not_shown:
        return (
            f"CT shows {len(c.not_shown)} deposit(s) inside this radiograph's field that it does not "
            f"show: {', '.join(c.not_shown)} (CT finds calcinosis in radiographically normal areas)"
        )
    if c.matched:
        return f"every CT deposit inside this radiograph's field is seen on it ({len(c.matched)})"
    return "no CT deposit lies inside this radiograph's field"


def _by_count(
    base: RadiographComparison, findings: RadiographFindings, ct: list[Deposit], region: str, method: str
) -> RadiographComparison:
    """Without registration: CT deposits in the film's region and side against the film's count."""
    in_region = [d for d in ct if region == "unknown" or d.region == region]
    base.method = method
    shown = len(findings.deposits)
    where = f"the {region}" if region != "unknown" else "this study"
    if len(in_region) > shown:
        base.statement = (
            f"CT shows {len(in_region)} deposit(s) in {where} and the radiograph {shown} opacity(ies): "
            f"at least {len(in_region) - shown} CT deposit(s) are not seen on the film (which ones "
            "cannot be told without registration)"
        )
    else:
        base.statement = (
            f"CT shows {len(in_region)} deposit(s) in {where}, the radiograph {shown} opacity(ies): "
            "no CT deposit there is known to be missed by the film"
        )
    return base


def _film_mm(deposits: list[RadiographDeposit], spacing: tuple[float, float]) -> np.ndarray:
    rows = [[d.centroid_px[0] * spacing[0], d.centroid_px[1] * spacing[1]] for d in deposits]
    return np.array(rows, dtype=float).reshape(-1, 2)
