"""Which key images a study gets, written to images/*.png with what the page says about them.

Bounded on purpose: a study with hundreds of specks must still give a page that opens, so
at most MAX_DEPOSIT_IMAGES deposits get their own image (the page says how many more there
are). One image failing to render costs that image and a note, never the page. Every text
here comes from the report dict (already de-identified under --deidentify), never from the
DICOM headers behind `result`.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline.errors import plain_message
from pipeline.models import Deposit, Radiograph, Segmentation, StudyResult
from pipeline.report.html_parts import fmt
from pipeline.report.image_views import DisplayFrame, radiograph_edges
from pipeline.report.key_images import Mark, deposit_image, id_order, overview_image, radiograph_image

log = logging.getLogger(__name__)

MAX_DEPOSIT_IMAGES = 60
MAX_OVERVIEWS = 8
MAX_RADIOGRAPHS = 20
TILT_NOTE_DEG = 0.1  # the loader's default tilt tolerance: below it a stack is not tilted
_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")


@dataclass(frozen=True)
class Figure:
    """One written image: where it is (relative to the study folder) and how to show it."""

    path: str
    width: int
    height: int
    alt: str
    caption: str  # plain text
    anchor: str


@dataclass
class KeyImages:
    overviews: list[Figure] = field(default_factory=list)
    deposits: dict[str, Figure] = field(default_factory=dict)  # by deposit id
    radiographs: list[Figure] = field(default_factory=list)
    on_films: dict[str, Figure] = field(default_factory=dict)  # radiograph deposit id -> its film
    not_shown: int = 0  # deposits beyond MAX_DEPOSIT_IMAGES
    notes: list[str] = field(default_factory=list)  # for the reader: oblique volumes, failures

    @property
    def paths(self) -> list[str]:
        return [f.path for f in [*self.overviews, *self.deposits.values(), *self.radiographs]]


Rendered = tuple[Image.Image, str, str]  # image, alt text, caption


def write_key_images(folder: Path, result: StudyResult, report: dict[str, Any]) -> KeyImages:
    """Render and save every key image of a study into folder/images/."""
    out = KeyImages()
    entries = {d.get("id"): d for d in report.get("deposits", [])}
    names = _series_names(report)
    for n, seg in enumerate(result.segmentations[:MAX_OVERVIEWS], start=1):
        out.notes.extend(_geometry_notes(seg, names))
        _save(folder, out, out.overviews, f"overview_{n}", partial(_overview, seg, names))
    pairs = sorted(
        ((seg, d) for seg in result.segmentations for d in seg.deposits if d.id in entries),
        key=lambda p: id_order(p[1]),
    )
    for seg, deposit in pairs[:MAX_DEPOSIT_IMAGES]:
        shown: list[Figure] = []
        _save(
            folder, out, shown, f"deposit_{deposit.id}", partial(_deposit, seg, deposit, entries[deposit.id])
        )
        out.deposits.update((str(entries[deposit.id].get("id")), f) for f in shown)
    out.not_shown = max(0, len(pairs) - MAX_DEPOSIT_IMAGES)
    for n, film in enumerate(result.radiograph_findings[:MAX_RADIOGRAPHS], start=1):
        rg = film.image
        shown = []
        render = partial(_radiograph, rg, report, names, film.labels)
        _save(folder, out, shown, f"radiograph_{n}", render)
        out.radiographs.extend(shown)
        out.on_films.update((m.text, f) for f in shown for m in radiograph_marks(report, rg.series_uid))
    return out


def _save(
    folder: Path, out: KeyImages, into: list[Figure], stem: str, render: Callable[[], Rendered]
) -> None:
    """Render, write images/<stem>.png and record it in `into`; a failure becomes a note."""
    try:
        image, alt, caption = render()
        path = folder / "images" / f"{_UNSAFE.sub('_', stem)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG")
    except Exception as exc:  # one image must not cost the page
        log.debug("key image %s failed:\n%s", stem, traceback.format_exc())
        out.notes.append(f"image {stem} not rendered ({plain_message(exc)})")
        return
    into.append(Figure(f"images/{path.name}", image.size[0], image.size[1], alt, caption, f"img-{stem}"))


def _overview(seg: Segmentation, names: dict[str, str]) -> Rendered:
    name = names.get(seg.volume.series_uid, "CT series")
    ids = ", ".join(d.id for d in sorted(seg.deposits, key=id_order)) or "no deposits"
    alt = f"Coronal maximum intensity projection of {name} with deposits marked ({ids})"
    caption = (
        f"{name}: coronal maximum intensity projection (along anterior-posterior), bone window; "
        f"deposits marked by id ({ids})."
    )
    return overview_image(seg, seg.deposits), alt, caption


def _deposit(seg: Segmentation, deposit: Deposit, entry: dict[str, Any]) -> Rendered:
    image, z_mm = deposit_image(seg, deposit)
    ident = fmt(entry.get("id"))
    site = f"{fmt(entry.get('region'))}, {fmt(entry.get('laterality'))}, {fmt(entry.get('tissue'))}"
    alt = f"Deposit {ident} ({site}): axial slice, whole and cropped in soft-tissue and bone windows"
    caption = (
        f"{ident}: {site}; {fmt(entry.get('volume_mm3'))} mm³, max {fmt(entry.get('max_hu'))} HU. "
        f"Axial slice at z = {z_mm:.1f} mm (LPS); deposit outlined in red, other deposits in amber, "
        "the cropped field boxed in blue on the whole slice."
    )
    return image, alt, caption


def _radiograph(
    rg: Radiograph, report: dict[str, Any], names: dict[str, str], labels: np.ndarray | None
) -> Rendered:
    marks = radiograph_marks(report, rg.series_uid)
    image = radiograph_image(rg, marks, labels)
    name = names.get(rg.series_uid, "radiograph")
    how = "shown as stored, windowed to the 0.5-99.5 percentiles"
    if radiograph_edges(rg.patient_orientation) is None:
        how += "; orientation unknown (no usable PatientOrientation)"
    marked = f"{len(marks)} deposit(s) marked and outlined in red" if marks else "no opacity found"
    return image, f"Radiograph: {name}", f"Radiograph {name}: {how}; {marked}."


def radiograph_marks(report: dict[str, Any], series_uid: str) -> list[Mark]:
    """Report entries of this image with a `centroid_px`: the radiograph stage's deposits."""
    marks = []
    for d in report.get("deposits", []):
        px = d.get("centroid_px")
        if d.get("modality") != "CT" and d.get("series_instance_uid") == series_uid and px and len(px) == 2:
            marks.append(Mark(str(d.get("id")), float(px[0]), float(px[1])))
    return marks


def _series_names(report: dict[str, Any]) -> dict[str, str]:
    """Series UID -> "CT series 3 'description'", from the report's series entries."""
    names: dict[str, str] = {}
    for s in report.get("series", []):
        number = s.get("series_number")
        text = f"{s.get('modality') or ''} series {number if number is not None else '?'}"
        if s.get("description"):
            text += f" '{s['description']}'"
        names.setdefault(str(s.get("series_instance_uid")), text.strip())
    return names


def _geometry_notes(seg: Segmentation, names: dict[str, str]) -> list[str]:
    """Say when the images can only approximate the patient's axes."""
    frame = DisplayFrame.of(seg.volume)
    name = names.get(seg.volume.series_uid, "a CT series")
    notes = []
    if frame.oblique:
        notes.append(
            f"{name} is oblique ({frame.off_axis_deg:.0f}° off the patient axes): its images are shown "
            "along the nearest patient axes, so orientation labels are approximate."
        )
    if seg.volume.tilt_deg >= TILT_NOTE_DEG:
        notes.append(
            f"{name} has a gantry tilt of {seg.volume.tilt_deg:.1f}°: "
            "its coronal view is not corrected for it."
        )
    return notes
