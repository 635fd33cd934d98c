"""Checks of one image's header before any pixel is read: is it safe and meaningful to use?

Real archives hold files whose headers contradict their data (BitsAllocated 8 on 16-bit
pixels, Columns smaller than the data), whose geometry is not geometry (NaN positions, zero
or parallel direction cosines) or whose rescale makes no Hounsfield units (slope 0, NaN,
1e300). Such a value must never reach the analysis, where it either crashes far from its
cause or, worse, gives plausible-looking results. Each check gives a sentence a reader can
act on, naming the attribute and its value.

Two outcomes: a *problem* makes the frame (or the whole file) unusable; a *repair* is a
value calcscan could fix unambiguously (cosines a little off unit length), applied and
reported as a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Header sizes beyond these are refused before anything is allocated. The largest real CT
# frames are 1024 x 1024 and the largest detectors about 4300 x 4300 pixels; 8 GiB of decoded
# pixels is a whole-body enhanced CT several times over.
MAX_SIDE = 16384
MAX_DECODED_BYTES = 8 << 30
# Lossless compression of medical images rarely beats 20:1; a header claiming more than this
# ratio over its compressed data describes pixels the file does not hold.
MAX_COMPRESSION_RATIO = 1000
# Hounsfield units a CT image can hold: air is -1000, the densest metal implants reach ~30000
# on extended scales. Rescaled stored values entirely outside this range are not HU.
HU_PLAUSIBLE = (-2000.0, 32000.0)
SLOPE_RANGE = (1e-4, 1e4)
MAX_ABS_INTERCEPT = 1e5
MAX_ABS_POSITION_MM = 1e5  # 100 m from the origin: not a position in a scanner
PIXEL_SPACING_RANGE_MM = (1e-3, 50.0)
MIN_COSINE_NORM = 1e-3  # shorter direction vectors carry no direction
UNIT_TOLERANCE = 1e-3  # cosine vectors off unit length by more than this are reported
PERPENDICULAR_TOLERANCE = 1e-3  # |row . column| above this is reported and repaired
MAX_REPAIRABLE_DOT = 0.1  # beyond ~6 degrees off perpendicular the geometry is not trusted
GREYSCALE = ("MONOCHROME1", "MONOCHROME2")
BITS_ALLOCATED = (1, 8, 16, 32)


@dataclass(frozen=True)
class PixelDataInfo:
    """What the file says about its pixel data element, read without decoding it."""

    present: bool
    length: int | None = None  # bytes of native pixel data; None when encapsulated
    encapsulated: bool = False
    n_fragments: int = 0
    compressed_bytes: int = 0
    first_fragment: bytes = b""  # the start of the first frame's data (codestream header)
    transfer_syntax: str | None = None


@dataclass(frozen=True)
class PixelModule:
    rows: int | None
    columns: int | None
    frames: int
    samples_per_pixel: int
    bits_allocated: int | None
    bits_stored: int | None
    high_bit: int | None
    pixel_representation: int | None
    photometric: str | None


def _describe(value: object) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value).replace("inf", "infinity")
    return str(value)


def pixel_module_problem(pm: PixelModule, info: PixelDataInfo) -> tuple[str | None, list[str]]:
    """(why the pixel data cannot be used, or None; repairs reported as warnings)."""
    repairs: list[str] = []
    if not pm.rows or not pm.columns or pm.rows < 1 or pm.columns < 1:
        return "no valid Rows/Columns in the header: the image size is unknown", repairs
    if pm.rows > MAX_SIDE or pm.columns > MAX_SIDE:
        size = f"{pm.rows} x {pm.columns}"
        return f"header claims {size} pixels, more than any real image (limit {MAX_SIDE})", []
    if pm.bits_allocated not in BITS_ALLOCATED:
        return f"BitsAllocated {pm.bits_allocated} is not one of {BITS_ALLOCATED}", repairs
    if pm.bits_stored is None or not 1 <= pm.bits_stored <= pm.bits_allocated:
        return f"BitsStored {pm.bits_stored} does not fit BitsAllocated {pm.bits_allocated}", repairs
    if pm.high_bit is not None and pm.high_bit != pm.bits_stored - 1:
        repairs.append(f"HighBit {pm.high_bit} is not BitsStored - 1 ({pm.bits_stored - 1}): ignored")
    if pm.pixel_representation not in (0, 1):
        value = pm.pixel_representation
        return f"PixelRepresentation {value} is neither 0 (unsigned) nor 1 (signed)", repairs
    if pm.photometric is not None and pm.photometric not in GREYSCALE:
        return f"PhotometricInterpretation {pm.photometric}: not a greyscale image", repairs
    if pm.samples_per_pixel != 1:
        return f"{pm.samples_per_pixel} samples per pixel: not a greyscale image", repairs
    return _size_problem(pm, info), repairs


def _size_problem(pm: PixelModule, info: PixelDataInfo) -> str | None:
    """The size the header claims, checked against the bytes the file holds."""
    claimed = math.ceil(pm.rows * pm.columns * pm.frames * pm.samples_per_pixel * pm.bits_allocated / 8)
    what = f"Rows {pm.rows} x Columns {pm.columns} x {pm.frames} frame(s) x {pm.bits_allocated} bits"
    if claimed > MAX_DECODED_BYTES:
        gib = claimed / (1 << 30)
        return f"header claims {gib:.0f} GiB of pixels ({what}): refused before reading (limit 8 GiB)"
    if info.encapsulated:
        stream = codestream_problem(pm, info)
        if stream:
            return stream
        if info.n_fragments and pm.frames > info.n_fragments:
            n = info.n_fragments
            return f"NumberOfFrames {pm.frames} but the compressed pixel data has {n} fragment(s)"
        if info.compressed_bytes and claimed > MAX_COMPRESSION_RATIO * info.compressed_bytes + (1 << 20):
            return (
                f"header claims {claimed} bytes of pixels ({what}) but the file holds only "
                f"{info.compressed_bytes} compressed bytes"
            )
        return None
    if info.length is not None and info.length not in (claimed, claimed + 1):
        return (
            f"pixel data holds {info.length} bytes but the header describes {claimed} ({what}): "
            "the pixel module does not match the data"
        )
    return None


JPEG2000_SYNTAXES = {
    "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203",
}  # fmt: skip
RLE_SYNTAX = "1.2.840.10008.1.2.5"
JPEG_FAMILY = {  # JPEG baseline, extended, lossless, JPEG-LS: all start with a JPEG SOI marker
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
}  # fmt: skip


def codec_note(info: PixelDataInfo) -> str | None:
    """Compressed data whose own start marker says another codec than the transfer syntax
    (a relabelled file). Decoders may still read it by its content, so it is a warning."""
    head, syntax = info.first_fragment, info.transfer_syntax
    if not info.encapsulated or len(head) < 4 or syntax is None:
        return None
    found = None
    if head[:2] == b"\xff\x4f" or head[4:8] == b"jP  ":  # codestream SOC, or a JP2 signature box
        found = "JPEG 2000"
    elif head[:2] == b"\xff\xd8":  # SOI
        found = "JPEG"
    expected = "JPEG 2000" if syntax in JPEG2000_SYNTAXES else "JPEG" if syntax in JPEG_FAMILY else None
    if found and expected and found != expected:
        return (
            f"the compressed pixel data is {found} but the transfer syntax says {expected} "
            f"({syntax}): the file is mislabelled; its data were decoded by their content"
        )
    return None


def codestream_problem(pm: PixelModule, info: PixelDataInfo) -> str | None:
    """The compressed data's own header against the pixel module: a JPEG 2000 codestream
    states its size and bit depth (SIZ marker, ISO 15444-1 A.5.1), RLE data its number of
    byte segments (PS3.5 G.5). A mismatch would decode to the wrong image, or fail deep in
    a decoder with a message about array shapes."""
    head = info.first_fragment
    if info.transfer_syntax in JPEG2000_SYNTAXES and head[:4] == b"\xff\x4f\xff\x51" and len(head) >= 43:
        width = int.from_bytes(head[8:12], "big") - int.from_bytes(head[16:20], "big")
        height = int.from_bytes(head[12:16], "big") - int.from_bytes(head[20:24], "big")
        precision = (head[42] & 0x7F) + 1  # Ssiz of the first component
        if (width, height) != (pm.columns, pm.rows):
            return (
                f"the JPEG 2000 data is {width} x {height} pixels but the header says "
                f"Columns {pm.columns} x Rows {pm.rows}"
            )
        allocated = pm.bits_allocated
        if allocated is not None and (precision > allocated or allocated - precision >= 16):
            return f"the JPEG 2000 data holds {precision}-bit samples but BitsAllocated is {allocated}"
    if info.transfer_syntax == RLE_SYNTAX and len(head) >= 4 and pm.bits_allocated:
        segments = int.from_bytes(head[:4], "little")
        expected = max(pm.bits_allocated // 8, 1) * pm.samples_per_pixel
        if segments != expected:
            return (
                f"the RLE data holds {segments} byte segment(s) per frame but BitsAllocated "
                f"{pm.bits_allocated} needs {expected}"
            )
    return None


@dataclass(frozen=True)
class FrameCheck:
    """A frame's geometry and rescale after checking: usable values, or why not."""

    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    problem: str | None
    repairs: tuple[str, ...]


def check_geometry(
    position: tuple[float, ...] | None,
    orientation: tuple[float, ...] | None,
    pixel_spacing: tuple[float, ...] | None,
    slice_thickness: float | None,
) -> FrameCheck:
    """Finite position, orthonormal cosines (repaired when nearly so), plausible spacing."""
    repairs: list[str] = []
    problem = _position_problem(position)
    cosines, why = (None, None) if orientation is None else _orthonormal(orientation, repairs)
    problem = problem or why or _spacing_problem(pixel_spacing)
    if slice_thickness is not None and not (math.isfinite(slice_thickness) and slice_thickness > 0):
        repairs.append(f"SliceThickness {_describe(slice_thickness)} is not a positive length: ignored")
        slice_thickness = None
    return FrameCheck(
        position=tuple(position) if position is not None and problem is None else position,  # type: ignore[arg-type]
        orientation=cosines if problem is None else orientation,
        pixel_spacing=tuple(pixel_spacing) if pixel_spacing is not None else None,  # type: ignore[arg-type]
        slice_thickness=slice_thickness,
        problem=problem,
        repairs=tuple(repairs),
    )


def _position_problem(position: tuple[float, ...] | None) -> str | None:
    if position is None:
        return None
    if not all(math.isfinite(v) for v in position):
        return f"ImagePositionPatient {list(map(_describe, position))} is not a finite position"
    if max(abs(v) for v in position) > MAX_ABS_POSITION_MM:
        return f"ImagePositionPatient {list(map(_describe, position))} is more than 100 m from the origin"
    return None


def _orthonormal(
    orientation: tuple[float, ...], repairs: list[str]
) -> tuple[tuple[float, ...] | None, str | None]:
    """Row and column cosines made unit and perpendicular when they nearly are."""
    shown = "\\".join(_describe(v) for v in orientation)
    values = np.asarray(orientation, float)
    if not np.all(np.isfinite(values)):
        return None, f"ImageOrientationPatient {shown} holds values that are not numbers"
    row, col = values[:3], values[3:]
    norms = np.linalg.norm(row), np.linalg.norm(col)
    if min(norms) < MIN_COSINE_NORM:
        return None, f"ImageOrientationPatient {shown}: a direction is zero, so the slice plane is unknown"
    row, col = row / norms[0], col / norms[1]
    dot = float(abs(row @ col))
    if dot > MAX_REPAIRABLE_DOT:
        angle = math.degrees(math.acos(min(dot, 1.0)))
        return None, (
            f"ImageOrientationPatient {shown}: row and column directions are {angle:.1f} degrees "
            "apart, not perpendicular"
        )
    if max(abs(n - 1) for n in norms) > UNIT_TOLERANCE or dot > PERPENDICULAR_TOLERANCE:
        col = col - (col @ row) * row
        col = col / np.linalg.norm(col)
        repairs.append(f"ImageOrientationPatient {shown} is not orthonormal: normalised")
    return tuple(float(v) for v in (*row, *col)), None


def _spacing_problem(pixel_spacing: tuple[float, ...] | None) -> str | None:
    if pixel_spacing is None:
        return None
    lo, hi = PIXEL_SPACING_RANGE_MM
    if not all(math.isfinite(v) and lo <= v <= hi for v in pixel_spacing):
        shown = "\\".join(_describe(v) for v in pixel_spacing)
        return f"PixelSpacing {shown} mm is not a plausible pixel size ({lo} to {hi} mm)"
    return None


def rescale_problem(
    slope: float | None,
    intercept: float | None,
    stored_range: tuple[int, int] | None,
    hounsfield: bool,
) -> str | None:
    """Why RescaleSlope/Intercept cannot map stored values to meaningful numbers, or None.

    `hounsfield`: the result must be Hounsfield units (CT), so the rescaled stored range must
    reach the HU scale at all."""
    if slope is not None:
        if not math.isfinite(slope) or slope == 0:
            return f"RescaleSlope {_describe(slope)}: stored values cannot be converted"
        if hounsfield and slope < 0:
            why = "denser tissue would get lower Hounsfield units"
            return f"RescaleSlope {_describe(slope)} is negative: {why}"
        if not SLOPE_RANGE[0] <= abs(slope) <= SLOPE_RANGE[1]:
            return f"RescaleSlope {_describe(slope)} is outside any real scanner's range"
    if intercept is not None and not (math.isfinite(intercept) and abs(intercept) <= MAX_ABS_INTERCEPT):
        return f"RescaleIntercept {_describe(intercept)} is not a plausible offset"
    if hounsfield and stored_range is not None:
        s, b = slope if slope is not None else 1.0, intercept or 0.0
        lo, hi = sorted((s * stored_range[0] + b, s * stored_range[1] + b))
        if hi < HU_PLAUSIBLE[0] or lo > HU_PLAUSIBLE[1]:
            return (
                f"RescaleSlope {_describe(s)} and RescaleIntercept {_describe(b)} map the stored "
                f"values to {lo:.0f}..{hi:.0f}, which are not Hounsfield units"
            )
    return None


def stored_range(bits_stored: int | None, pixel_representation: int | None) -> tuple[int, int] | None:
    """Smallest and largest value BitsStored bits can hold (signed or not)."""
    if not bits_stored or bits_stored > 32:
        return None
    if pixel_representation == 1:
        return -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    return 0, (1 << bits_stored) - 1
