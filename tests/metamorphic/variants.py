"""Rewrite a classic CT series into a variant folder that shows the same patient-space image.

Every variant changes only how the image is stored: the array layout with the matching
geometry (ImagePositionPatient, ImageOrientationPatient, PixelSpacing), the numbering and
names of the files, the transfer syntax, one multi-frame file instead of many, or the
rescale. Each voxel keeps its LPS position and its Hounsfield value, so calcscan must give
the same answer; `tests.metamorphic.patient_space` checks that claim on every variant.

Geometry: a pixel at (row j, column i) of a slice lies at IPP + i * dc * r + j * dr * c,
with r the row cosine (direction of increasing column index), c the column cosine and
PixelSpacing = (dr, dc) (between rows, between columns). Direction cosines are rewritten
from their original decimal strings (swapped or negated), so they stay exact.
"""

from __future__ import annotations

import copy
import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import get_encoder
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

# the array layout and file order, with the geometry that keeps the patient-space image
GEOMETRIC = ("transposed", "flipped_rows", "flipped_columns", "reversed_order", "feet_first", "prone")
# every transfer syntax calcscan reads that a lossless writer exists for
ENCODINGS: dict[str, UID] = {
    "explicit_little": ExplicitVRLittleEndian,
    "implicit_little": ImplicitVRLittleEndian,
    "explicit_big": ExplicitVRBigEndian,
    "deflated": DeflatedExplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg_ls": JPEGLSLossless,
    "jpeg2000": JPEG2000Lossless,
    "jpeg_lossless": JPEGLosslessSV1,  # process 14, selection value 1: dcmtk's dcmcjpeg +e1
}
OTHER = ("enhanced", "rescale_intercept0", "rescale_slope_half")
ALL = (*GEOMETRIC, *ENCODINGS, *OTHER)

# elements whose VR (US or SS) or meaning follows the stored values: dropped by a new rescale
_STORED_RANGE = (
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries",
)


class VariantUnavailable(Exception):
    """This machine cannot write the variant (an encoder or tool is missing): a skip, not a bug."""


class NotApplicable(Exception):
    """The seed cannot be stored this way without changing it (e.g. values that do not fit)."""


@dataclass
class Slice:
    """One classic CT image: its file name and its dataset with native (decoded) pixel data."""

    name: str
    ds: Dataset


def read_series(folder: Path) -> list[Slice]:
    """Every image of a classic CT series, decoded, sorted along the slice normal (r x c).

    Sorting by position, not by name or InstanceNumber, gives the variants a well-defined
    slice index k to reorder by. Decoding keeps the SOP Instance UID (pydicom would make a
    new one by default), so an empty UID stays empty and is derived by calcscan as before.
    """
    slices = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        ds = pydicom.dcmread(path)
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            ds.decompress(generate_instance_uid=False)
        _require_plain(ds, path)
        slices.append(Slice(path.name, ds))
    normal = np.cross(*_cosines(slices[0].ds))
    return sorted(slices, key=lambda s: float(normal @ _position(s.ds)))


def write_variant(source: list[Slice], variant: str, out: Path) -> Path:
    """Write `variant` of the series `source` (from read_series) into the new folder `out`.

    Raises VariantUnavailable when this machine has no writer for it, NotApplicable when the
    series cannot be stored that way without changing it.
    """
    slices = copy.deepcopy(source)
    out.mkdir(parents=True)
    if variant in ENCODINGS:
        _write_encoded(slices, ENCODINGS[variant], out)
    elif variant == "enhanced":
        _write_enhanced(slices, out)
    else:
        for item in _REWRITES[variant](slices):
            _write(item.ds, out / item.name, ExplicitVRLittleEndian)
    return out


# --- geometric variants -------------------------------------------------------------------


def transposed(slices: list[Slice]) -> list[Slice]:
    """Rows and columns swapped: the array .T, Rows/Columns, PixelSpacing and the two cosines.

    The slice normal c x r is the original's negated, so the slices run the other way along
    it; their positions (pixel (0, 0) is still the same voxel) do not change.
    """
    for item in slices:
        ds = item.ds
        iop = list(ds.ImageOrientationPatient)
        ds.ImageOrientationPatient = iop[3:] + iop[:3]
        ds.PixelSpacing = list(ds.PixelSpacing)[::-1]
        _set_words(ds, _words(ds).T)
    return slices


def flipped_rows(slices: list[Slice]) -> list[Slice]:
    """Rows in reverse order (array [::-1, :]): the column cosine negated, IPP at the new first row.

    The normal r x (-c) turns round with it, so the stack also runs the other way along z.
    """
    for item in slices:
        _flip_rows(item.ds)
    return slices


def flipped_columns(slices: list[Slice]) -> list[Slice]:
    """Columns in reverse order (array [:, ::-1]): the row cosine negated, IPP at the new first column.

    The normal (-r) x c turns round with it, so the stack also runs the other way along z: a
    reader sorting by position builds the same array as for feet_first, which differs from
    this variant only in InstanceNumber, file names and PatientPosition.
    """
    for item in slices:
        _flip_columns(item.ds)
    return slices


def reversed_order(slices: list[Slice]) -> list[Slice]:
    """InstanceNumber reversed and file names shuffled: discovery must sort by position.

    The names are random hexadecimal strings without an extension (from a fixed seed, so a
    rerun writes the same folder).
    """
    numbers = [int(s.ds.get("InstanceNumber") or k + 1) for k, s in enumerate(slices)]
    low, high = min(numbers), max(numbers)
    rng = random.Random(len(slices))
    names = [f"{rng.getrandbits(64):016x}" for _ in slices]
    for item, number, name in zip(slices, numbers, names, strict=True):
        item.ds.InstanceNumber = low + high - number
        item.name = name
    return slices


def feet_first(slices: list[Slice]) -> list[Slice]:
    """The same patient-space volume as a scanner writes a feet-first supine patient.

    With the source slices k = 0..N-1 sorted along n = r x c, arrays A_k (rows x columns,
    C columns), positions p_k and PixelSpacing (dr, dc), variant slice k' = 0..N-1 is

        A'_k' = A_(N-1-k')[:, ::-1]        p'_k' = p_(N-1-k') + (C-1) dc r
        r' = -r      c' = c      n' = r' x c' = -n      InstanceNumber k' + 1

    (columns flipped, and the z order reversed: slice 1 is the most cranial and the stack
    runs towards the feet along its own normal). Variant voxel (i, j, k') lies at
    p'_k' + i dc r' + j dr c' = p_(N-1-k') + (C-1-i) dc r + j dr c, which is source voxel
    (C-1-i, j, N-1-k') and has its value. For an axial head-first source (r = (1,0,0),
    c = (0,1,0)) this gives r' = (-1,0,0), c' = (0,1,0), n' = (0,0,-1), as feet-first
    scanners write. PatientPosition becomes FFS: a feet-first supine patient still lies on
    the table with the back down, so the header agrees with the image.
    """
    out = []
    for k_new, item in enumerate(reversed(slices)):
        _flip_columns(item.ds)
        item.ds.InstanceNumber = k_new + 1
        item.ds.PatientPosition = "FFS"
        out.append(Slice(f"FF{k_new + 1:04d}.dcm", item.ds))
    return out


def prone(slices: list[Slice]) -> list[Slice]:
    """Rows and columns both flipped (array [::-1, ::-1]): r' = -r, c' = -c, as a scanner
    writes a prone patient (r' = (-1,0,0), c' = (0,-1,0) for an axial source).

    The normal r' x c' = r x c is unchanged, so the slice order is too. PatientPosition is
    left as it was: the image still shows the patient on their back on the table, and a
    header saying prone would contradict it; this variant changes the storage only.
    """
    for item in slices:
        _flip_rows(item.ds)
        _flip_columns(item.ds)
    return slices


# --- another rescale ----------------------------------------------------------------------


def rescale_intercept0(slices: list[Slice]) -> list[Slice]:
    """Stored value = HU, signed 16 bits, RescaleIntercept 0 and slope 1.

    Exact only when every HU is an integer within int16; otherwise NotApplicable (a variant
    that changed the data would prove nothing).
    """
    for item in slices:
        hu = _hu(item.ds)
        _require_exact(hu, -32768, 32767, "intercept 0")
        _restore(item.ds, hu, hu, signed=True, slope="1", intercept="0")
    return slices


def rescale_slope_half(slices: list[Slice]) -> list[Slice]:
    """Stored value = 2 (HU + 1024), RescaleSlope 0.5, intercept -1024: calcscan's float path.

    Signed int16 holds HU up to 15359; a series beyond it (or below -17408) is written
    unsigned (PixelRepresentation 0, HU -1024 to 31743); beyond both it is NotApplicable,
    never clipped, because clipping would change the image.
    """
    units = [_hu(item.ds) for item in slices]
    low, high = min(float(hu.min()) for hu in units), max(float(hu.max()) for hu in units)
    signed = 2 * (low + 1024) >= -32768 and 2 * (high + 1024) <= 32767
    for item, hu in zip(slices, units, strict=True):
        stored = 2.0 * (hu + 1024.0)
        _require_exact(stored, -32768 if signed else 0, 32767 if signed else 65535, "slope 0.5")
        _restore(item.ds, stored, hu, signed=signed, slope="0.5", intercept="-1024")
    return slices


_REWRITES: dict[str, Callable[[list[Slice]], list[Slice]]] = {
    "transposed": transposed,
    "flipped_rows": flipped_rows,
    "flipped_columns": flipped_columns,
    "reversed_order": reversed_order,
    "feet_first": feet_first,
    "prone": prone,
    "rescale_intercept0": rescale_intercept0,
    "rescale_slope_half": rescale_slope_half,
}


# --- writers ------------------------------------------------------------------------------


def _write_encoded(slices: list[Slice], syntax: UID, out: Path) -> None:
    """The same datasets in another transfer syntax; JPEG lossless goes through dcmtk."""
    if syntax == JPEGLosslessSV1:
        _write_with_dcmcjpeg(slices, out)
        return
    if syntax.is_compressed and not get_encoder(syntax).is_available:
        missing = "; ".join(get_encoder(syntax).missing_dependencies)
        raise VariantUnavailable(f"pydicom has no {syntax.name} encoder here ({missing})")
    for item in slices:
        _write(item.ds, out / item.name, syntax)


def _write_with_dcmcjpeg(slices: list[Slice], out: Path) -> None:
    """pydicom cannot encode lossless JPEG, dcmtk can: explicit little endian, then dcmcjpeg +e1.

    dcmtk rebuilds the file meta from the dataset, so a file whose dataset has an empty SOP
    Class or Instance UID (the shared contrast CT) would lose the file meta's; they are put
    back, because identifiers are not what this variant changes.
    """
    tool = shutil.which("dcmcjpeg")
    if tool is None:
        raise VariantUnavailable("dcmcjpeg (dcmtk) not on PATH: make test installs it")
    staging = out.with_name(out.name + ".native")
    staging.mkdir()
    for item in slices:
        _write(item.ds, staging / item.name, ExplicitVRLittleEndian)
        subprocess.run(
            [tool, "+e1", str(staging / item.name), str(out / item.name)], check=True, capture_output=True
        )
        _restore_file_meta(out / item.name, item.ds)
    shutil.rmtree(staging)


def _restore_file_meta(path: Path, source: Dataset) -> None:
    encoded = pydicom.dcmread(path)
    for keyword in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID"):
        setattr(encoded.file_meta, keyword, source.file_meta.get(keyword, ""))
    pydicom.dcmwrite(path, encoded, enforce_file_format=True)


def identity_problems(source: Path, variant: Path) -> list[str]:
    """Files of a one-file-per-slice variant must keep their identifiers (file meta and
    dataset UIDs), so that only the storage differs; a writer that loses one is a writer bug."""
    found = {
        name: Counter(_identities(folder)) for name, folder in (("source", source), ("variant", variant))
    }
    if found["source"] == found["variant"]:
        return []
    return [f"identifiers differ: {sorted((found['variant'] - found['source']).elements())[:3]}"]


def _identities(folder: Path) -> list[tuple[str, ...]]:
    keywords = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
    rows = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        meta = (
            str(ds.file_meta.get(k, "")) for k in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID")
        )
        rows.append((*meta, *(str(ds.get(k, "")) for k in keywords)))
    return rows


def _write_enhanced(slices: list[Slice], out: Path) -> None:
    """One Legacy Converted Enhanced CT Image made by highdicom, a real converter, from the
    series: per-frame PlanePosition and shared or per-frame PlaneOrientation, PixelMeasures
    and PixelValueTransformation functional groups, instead of one file per slice."""
    from highdicom.legacy import LegacyConvertedEnhancedCTImage

    first = slices[0].ds
    if not first.get("StudyInstanceUID") or not first.get("SeriesInstanceUID"):
        raise NotApplicable("highdicom needs the study and series UIDs, which this series leaves empty")
    series = str(first.SeriesInstanceUID)
    image = LegacyConvertedEnhancedCTImage(
        [s.ds for s in slices],
        series_instance_uid=generate_uid(prefix="2.25.", entropy_srcs=[series, "enhanced"]),
        series_number=int(first.get("SeriesNumber") or 1) + 1000,
        sop_instance_uid=generate_uid(prefix="2.25.", entropy_srcs=[series, "enhanced", "sop"]),
        instance_number=1,
    )
    image.save_as(out / "enhanced.dcm")


def _write(ds: Dataset, path: Path, syntax: UID) -> None:
    """Encode a native dataset in `syntax` and write it as a DICOM file (with file meta).

    pydicom 3 writes every element in big endian when the transfer syntax says so, except
    the bytes of OW pixel data, which it copies: those are swapped here first.
    """
    if syntax.is_compressed:
        ds.compress(syntax, generate_instance_uid=False)
    else:
        if syntax == ExplicitVRBigEndian:
            ds.PixelData = _words(ds).byteswap().tobytes()
        ds.file_meta.TransferSyntaxUID = syntax
    pydicom.dcmwrite(path, ds, enforce_file_format=True)


# --- dataset helpers ----------------------------------------------------------------------


def _require_plain(ds: Dataset, path: Path) -> None:
    """The rewrites handle single-frame, one-sample, 16-bit images: every seed is one."""
    if int(ds.get("NumberOfFrames") or 1) != 1 or ds.SamplesPerPixel != 1 or ds.BitsAllocated != 16:
        raise ValueError(f"{path}: not a single-frame 16-bit greyscale image")


def _cosines(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
    return iop[:3], iop[3:]


def _position(ds: Dataset) -> np.ndarray:
    return np.asarray(ds.ImagePositionPatient, dtype=float)


def _words(ds: Dataset) -> np.ndarray:
    """The stored 16-bit words, (rows, columns), whatever their sign: rearranging them is exact."""
    n = ds.Rows * ds.Columns
    return np.frombuffer(ds.PixelData, dtype="<u2", count=n).reshape(ds.Rows, ds.Columns)


def _set_words(ds: Dataset, words: np.ndarray) -> None:
    ds.Rows, ds.Columns = (int(n) for n in words.shape)
    ds.PixelData = np.ascontiguousarray(words, dtype="<u2").tobytes()
    ds["PixelData"].VR = "OW"


def _flip_rows(ds: Dataset) -> None:
    """Last row first: pixel (0, 0) moves to the old last row, the column cosine turns round."""
    _, col = _cosines(ds)
    step_between_rows = float(ds.PixelSpacing[0])
    _set_position(ds, _position(ds) + (ds.Rows - 1) * step_between_rows * col)
    iop = list(ds.ImageOrientationPatient)
    ds.ImageOrientationPatient = iop[:3] + [_negate(v) for v in iop[3:]]
    _set_words(ds, _words(ds)[::-1, :])


def _flip_columns(ds: Dataset) -> None:
    """Last column first: pixel (0, 0) moves to the old last column, the row cosine turns round."""
    row, _ = _cosines(ds)
    step_between_columns = float(ds.PixelSpacing[1])
    _set_position(ds, _position(ds) + (ds.Columns - 1) * step_between_columns * row)
    iop = list(ds.ImageOrientationPatient)
    ds.ImageOrientationPatient = [_negate(v) for v in iop[:3]] + iop[3:]
    _set_words(ds, _words(ds)[:, ::-1])


def _set_position(ds: Dataset, position: np.ndarray) -> None:
    ds.ImagePositionPatient = [format_number_as_ds(float(v) + 0.0) for v in position]


def _negate(value: object) -> str:
    """-value as a decimal string, by its sign character, so no digit of the header changes."""
    text = str(value).strip()
    if text.startswith("-"):
        return text[1:]
    return text if float(text) == 0 else "-" + text.lstrip("+")


def _hu(ds: Dataset) -> np.ndarray:
    """Hounsfield units of a native slice with its own rescale."""
    slope = float(ds.get("RescaleSlope") or 1)
    intercept = float(ds.get("RescaleIntercept") or 0)
    return ds.pixel_array.astype(np.float64) * slope + intercept


def _require_exact(stored: np.ndarray, low: int, high: int, what: str) -> None:
    if not np.all(stored == np.rint(stored)) or stored.min() < low or stored.max() > high:
        raise NotApplicable(f"rescale with {what} cannot store these values exactly in 16 bits")


def _restore(
    ds: Dataset, stored: np.ndarray, hu: np.ndarray, *, signed: bool, slope: str, intercept: str
) -> None:
    """Put `stored` (exact integers) in the slice with its new rescale and pixel representation.

    A PixelPaddingValue is moved to the new stored scale; the stored-range elements, whose VR
    follows the pixel representation, are dropped.
    """
    padding = ds.get("PixelPaddingValue")
    if "PixelPaddingRangeLimit" in ds:
        raise NotApplicable("a padding range cannot be moved to another rescale exactly")
    for keyword in (*_STORED_RANGE, "PixelPaddingValue"):
        if keyword in ds:
            delattr(ds, keyword)
    old_slope = float(ds.get("RescaleSlope") or 1)
    old_intercept = float(ds.get("RescaleIntercept") or 0)
    ds.PixelRepresentation = 1 if signed else 0
    ds.BitsStored, ds.HighBit = 16, 15
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.PixelData = np.rint(stored).astype("<i2" if signed else "<u2").tobytes()
    ds["PixelData"].VR = "OW"
    if padding is not None:
        padding_hu = int(padding) * old_slope + old_intercept
        ds.PixelPaddingValue = round((padding_hu - float(intercept)) / float(slope))
    assert np.array_equal(stored * float(slope) + float(intercept), hu)
