"""Key images of a study as Pillow images: what report.html shows next to its tables.

- `overview_image`: a coronal maximum intensity projection of a CT (bone window) with each
  deposit's id beside its centroid, so a reader sees at a glance where everything is;
- `deposit_image`: the axial slice through one deposit, whole (with the field marked) and
  cropped in a soft-tissue and a bone window, the deposit outlined, so it can be checked;
- `radiograph_image`: a radiograph windowed by percentiles, with any radiograph deposits.

Every image is resampled to square millimetres and labelled with the patient's directions
at its edges (see image_views.py for how those come from the affine, never the array).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from pipeline.models import Deposit, Radiograph, Segmentation
from pipeline.report.image_views import (
    DisplayFrame,
    View,
    axial_view,
    coronal_mip,
    coronal_position,
    deposit_slice,
    radiograph_edges,
)

SOFT_TISSUE = (400.0, 40.0)  # window width, level (HU)
BONE = (1800.0, 400.0)
AIR_HU = -1000.0
PANEL_PX = 256
TITLE_PX = 20
MIN_FIELD_MM = 80.0
OVERVIEW_MAX_PX = 720
RADIOGRAPH_MAX_PX = 1024
OUTLINE = (255, 48, 48)
OTHER_OUTLINE = (255, 200, 0)
FIELD_BOX = (0, 200, 255)
Box = tuple[float, float, float, float]  # left, top, right, bottom of a text
MARKERS = [(255, 64, 64), (0, 220, 255), (255, 200, 0), (120, 255, 80), (255, 110, 255), (255, 150, 40)]


@dataclass(frozen=True)
class Mark:
    """A numbered point to draw on an image, in the source image's (row, col) pixels."""

    text: str
    row: float
    col: float


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def window(pixels: np.ndarray, width: float, level: float) -> np.ndarray:
    """HU (or any value) -> uint8 grey through a display window."""
    low = level - width / 2
    scaled = (np.asarray(pixels, dtype=np.float32) - low) * (255.0 / width)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def resample(
    view: View, px_mm: float, shape: tuple[int, int], centre_mm: tuple[float, float], order: int, cval: float
) -> np.ndarray:
    """`view` sampled on a grid of square `px_mm` pixels of `shape`, centred on `centre_mm`
    (row, col mm from the first pixel's centre); outside the image is `cval`."""
    rows = (np.arange(shape[0]) - (shape[0] - 1) / 2) * px_mm + centre_mm[0]
    cols = (np.arange(shape[1]) - (shape[1] - 1) / 2) * px_mm + centre_mm[1]
    grid = np.meshgrid(rows / view.row_mm, cols / view.col_mm, indexing="ij")
    source = view.pixels if order == 0 else view.pixels.astype(np.float32, copy=False)
    return ndimage.map_coordinates(source, grid, order=order, cval=cval, prefilter=False)


def whole(view: View, max_px: int, order: int = 1, cval: float = AIR_HU) -> tuple[np.ndarray, float]:
    """The whole view with square pixels, its longer side `max_px`: (pixels, mm per pixel)."""
    height = view.pixels.shape[0] * view.row_mm
    width = view.pixels.shape[1] * view.col_mm
    px_mm = max(height, width) / max_px
    shape = (max(1, round(height / px_mm)), max(1, round(width / px_mm)))
    centre = ((view.pixels.shape[0] - 1) * view.row_mm / 2, (view.pixels.shape[1] - 1) * view.col_mm / 2)
    return resample(view, px_mm, shape, centre, order, cval), px_mm


def outline(mask: np.ndarray, thickness: int = 1) -> np.ndarray:
    """The pixels just outside a mask, so the outline never hides what it encloses."""
    if not mask.any():
        return mask
    return ndimage.binary_dilation(mask, iterations=thickness) & ~mask


def paint(rgb: np.ndarray, where: np.ndarray, colour: tuple[int, int, int]) -> None:
    rgb[where] = colour


def edge_labels(image: Image.Image, view: View | tuple[str, str, str, str]) -> None:
    """The patient's direction at the middle of each edge (top, bottom, left, right)."""
    top, bottom, left, right = (
        (view.top, view.bottom, view.left, view.right) if isinstance(view, View) else view
    )
    draw = ImageDraw.Draw(image)
    font = _font(max(12, min(image.size) // 18))
    w, h = image.size
    for text, (x, y), anchor in (
        (top, (w / 2, 3), "mt"),
        (bottom, (w / 2, h - 3), "mb"),
        (left, (4, h / 2), "lm"),
        (right, (w - 4, h / 2), "rm"),
    ):
        draw.text((x, y), text, fill=(255, 255, 255), font=font, anchor=anchor, stroke_width=2, stroke_fill=0)


def caption(image: Image.Image, text: str, corner: str = "lt") -> None:
    """A short note in a corner, white on a dark outline."""
    draw = ImageDraw.Draw(image)
    font = _font(12)
    w, h = image.size
    xy = {"lt": (4, 4), "lb": (4, h - 4), "rb": (w - 4, h - 4)}[corner]
    anchor = {"lt": "la", "lb": "ld", "rb": "rd"}[corner]
    draw.text(xy, text, fill=(255, 255, 255), font=font, anchor=anchor, stroke_width=2, stroke_fill=0)


def titled(image: Image.Image, text: str) -> Image.Image:
    """The image under a dark title strip, so the title never covers an edge label."""
    out = Image.new("RGB", (image.size[0], image.size[1] + TITLE_PX), (32, 32, 32))
    out.paste(image, (0, TITLE_PX))
    ImageDraw.Draw(out).text((4, TITLE_PX // 2), text, fill=(255, 255, 255), font=_font(13), anchor="lm")
    return out


def scale_bar(image: Image.Image, px_mm: float, length_mm: float = 10.0) -> None:
    """A bar of `length_mm` at the bottom right, so sizes can be judged by eye."""
    draw = ImageDraw.Draw(image)
    w, h = image.size
    n = length_mm / px_mm
    draw.line([(w - 8 - n, h - 20), (w - 8, h - 20)], fill=(255, 255, 255), width=3)
    caption(image, f"{length_mm:g} mm", "rb")


def draw_marks(image: Image.Image, marks: list[tuple[str, float, float]]) -> None:
    """Numbered markers: a ring at each (x, y) and its text beside it, moved off the texts
    already placed so that neighbouring deposits stay readable."""
    draw = ImageDraw.Draw(image)
    font = _font(15)
    radius = 7
    placed: list[Box] = []
    for n, (text, x, y) in enumerate(marks):
        colour = MARKERS[n % len(MARKERS)]
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], outline=colour, width=2)
        box = _free_text_box(draw, font, text, x, y, radius, image.size[0], placed)
        placed.append(box)
        if abs((box[1] + box[3]) / 2 - y) > radius:  # moved: a leader line back to the ring
            draw.line([(x, y), (box[0] if box[0] > x else box[2], (box[1] + box[3]) / 2)], fill=colour)
        draw.text(box[:2], text, fill=colour, font=font, anchor="la", stroke_width=1, stroke_fill=0)


def _free_text_box(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    text: str,
    x: float,
    y: float,
    radius: int,
    width: int,
    placed: list[Box],
) -> Box:
    """Where `text` goes beside (x, y): right of it when there is room, else left, stepping
    down then up until it overlaps no text already placed."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font, anchor="la", stroke_width=1)
    w, h = right - left, bottom - top
    tx = x + radius + 3 if x + radius + 3 + w < width else x - radius - 3 - w
    for step in (0, 1, -1, 2, -2, 3, -3, 4, -4):
        ty = y - h / 2 + step * (h + 1)
        box = (tx, ty, tx + w, ty + h)
        if not any(b[0] < box[2] and box[0] < b[2] and b[1] < box[3] and box[1] < b[3] for b in placed):
            return box
    return (tx, y - h / 2, tx + w, y + h / 2)


def overview_image(seg: Segmentation, deposits: list[Deposit]) -> Image.Image:
    """Coronal MIP of the whole CT in a bone window, each deposit marked by its id."""
    frame = DisplayFrame.of(seg.volume)
    view = coronal_mip(frame, seg.volume.hu)
    pixels, px_mm = whole(view, OVERVIEW_MAX_PX)
    image = Image.fromarray(window(pixels, *BONE)).convert("RGB")
    h, w = view.pixels.shape
    marks = []
    for d in sorted(deposits, key=id_order):
        row, col = coronal_position(frame, d.centroid_ijk)
        # display pixel of source (row, col): see `whole` (centred grid of px_mm pixels)
        x = (col - (w - 1) / 2) * view.col_mm / px_mm + (pixels.shape[1] - 1) / 2
        y = (row - (h - 1) / 2) * view.row_mm / px_mm + (pixels.shape[0] - 1) / 2
        marks.append((d.id, x, y))
    draw_marks(image, marks)
    edge_labels(image, view)
    scale_bar(image, px_mm, 50.0)
    return titled(image, f"coronal MIP, bone W{BONE[0]:g} L{BONE[1]:g}")


def id_order(deposit: Deposit) -> tuple[int, str]:
    """D2 before D10."""
    digits = "".join(ch for ch in deposit.id if ch.isdigit())
    return (int(digits) if digits else 0, deposit.id)


def deposit_image(seg: Segmentation, deposit: Deposit) -> tuple[Image.Image, float]:
    """Three panels of the deposit's axial slice: whole slice with the field boxed, then the
    field in a soft-tissue and in a bone window; the deposit outlined in red, others in amber.
    Returns the image and the slice's height (LPS z, mm) at the deposit."""
    frame = DisplayFrame.of(seg.volume)
    cz, cy, cx = frame.to_canonical(deposit.centroid_ijk)
    box = frame.box_to_canonical(deposit.bbox_ijk)
    z = deposit_slice(frame, seg.labels, deposit.label, cz, box)
    hu = axial_view(frame, seg.volume.hu, z)
    labels = axial_view(frame, seg.labels, z)
    extent = max((box[1][1] - box[0][1]) * hu.row_mm, (box[1][2] - box[0][2]) * hu.col_mm)
    field_mm = max(MIN_FIELD_MM, 2.0 * extent)
    centre = (cy * hu.row_mm, cx * hu.col_mm)
    panels = [_context_panel(hu, labels, deposit.label, centre, field_mm)]
    px_mm = field_mm / PANEL_PX
    crop = resample(hu, px_mm, (PANEL_PX, PANEL_PX), centre, 1, AIR_HU)
    crop_labels = resample(labels, px_mm, (PANEL_PX, PANEL_PX), centre, 0, 0)
    for name, (width, level) in (("soft tissue", SOFT_TISSUE), ("bone", BONE)):
        panel = _outlined(window(crop, width, level), crop_labels, deposit.label, thickness=2)
        edge_labels(panel, hu)
        scale_bar(panel, px_mm)
        panels.append(titled(panel, f"{deposit.id} {name} W{width:g} L{level:g}"))
    z_mm = float(seg.volume.index_to_lps(frame.to_voxel((z, cy, cx)))[0, 2])
    return _side_by_side(panels), z_mm


def _context_panel(
    hu: View, labels: View, label: int, centre: tuple[float, float], field_mm: float
) -> Image.Image:
    """The whole slice, so the reader sees where the cropped field lies in the body."""
    pixels, px_mm = whole(hu, PANEL_PX)
    slice_labels, _ = whole(labels, PANEL_PX, order=0, cval=0)
    panel = Image.new("RGB", (PANEL_PX, PANEL_PX))
    image = _outlined(window(pixels, *SOFT_TISSUE), slice_labels, label, thickness=1)
    offset = ((PANEL_PX - image.size[0]) // 2, (PANEL_PX - image.size[1]) // 2)
    panel.paste(image, offset)
    # the field's box: centre in mm from the first pixel -> panel pixels (see `whole`)
    mid_r = (hu.pixels.shape[0] - 1) * hu.row_mm / 2
    mid_c = (hu.pixels.shape[1] - 1) * hu.col_mm / 2
    x = offset[0] + (centre[1] - mid_c) / px_mm + (image.size[0] - 1) / 2
    y = offset[1] + (centre[0] - mid_r) / px_mm + (image.size[1] - 1) / 2
    half = field_mm / px_mm / 2
    ImageDraw.Draw(panel).rectangle([x - half, y - half, x + half, y + half], outline=FIELD_BOX, width=1)
    edge_labels(panel, hu)
    return titled(panel, f"axial slice (field {field_mm:.0f} mm boxed)")


def _outlined(grey: np.ndarray, labels: np.ndarray, label: int, thickness: int) -> Image.Image:
    """Grey pixels with the deposit's outline in red and any other deposit's in amber."""
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    paint(rgb, outline((labels != 0) & (labels != label), 1), OTHER_OUTLINE)
    paint(rgb, outline(labels == label, thickness), OUTLINE)
    return Image.fromarray(rgb)


def _side_by_side(panels: list[Image.Image], gap: int = 4) -> Image.Image:
    width = sum(p.size[0] for p in panels) + gap * (len(panels) - 1)
    out = Image.new("RGB", (width, max(p.size[1] for p in panels)), (255, 255, 255))
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.size[0] + gap
    return out


def radiograph_image(rg: Radiograph, marks: list[Mark], labels: np.ndarray | None = None) -> Image.Image:
    """The radiograph windowed to its 0.5-99.5 percentiles, at most RADIOGRAPH_MAX_PX, with
    `marks` (radiograph deposits), their outlines from `labels` (the stage's label image)
    and the letters of PatientOrientation on its edges.

    Shown as stored, never mirrored: a flipped image would also flip the burned-in lead
    side marker, and the edge letters already say where the patient's right is."""
    pixels = np.asarray(rg.pixels, dtype=np.float32)
    sample = pixels[:: max(1, pixels.shape[0] // 512), :: max(1, pixels.shape[1] // 512)]
    low, high = np.percentile(sample, [0.5, 99.5])
    grey = window(pixels, max(float(high - low), 1e-6), float(low + high) / 2)
    row_mm, col_mm = rg.pixel_spacing_mm or (1.0, 1.0)
    height, width = pixels.shape[0] * row_mm, pixels.shape[1] * col_mm
    px_mm = max(min(row_mm, col_mm), max(height, width) / RADIOGRAPH_MAX_PX)
    size = (max(1, round(width / px_mm)), max(1, round(height / px_mm)))
    image = Image.fromarray(grey).resize(size, Image.Resampling.LANCZOS).convert("RGB")
    if labels is not None and labels.any():
        small = np.asarray(
            Image.fromarray((labels > 0).astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)
        )
        rgb = np.asarray(image).copy()
        paint(rgb, outline(small > 0, 1), OUTLINE)
        image = Image.fromarray(rgb)
    edges = radiograph_edges(rg.patient_orientation)
    points = [
        (m.text, (m.col + 0.5) * size[0] / pixels.shape[1], (m.row + 0.5) * size[1] / pixels.shape[0])
        for m in marks
    ]
    draw_marks(image, points)
    if edges is None:
        caption(image, "orientation unknown")
    else:
        edge_labels(image, edges)
    return image
