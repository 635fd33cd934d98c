"""Mutation families: what is done to a seed study, and what the run must make of it.

Each `Mutation` acts at one stage of building a mutant: on the parsed datasets (header
values), on the file bytes (flips, truncations, file meta), or on the finished folder (junk
files, links, names). Values no valid writer would produce (NaN, text in a number) are set
as raw bytes, so that pydicom writes them as they are instead of refusing them.

Expectations, per mutation:
- `must_notice`: the run must say something about the study: fail it with a reason, analyse
  it with a warning (study or series), or list one of its files as skipped with a reason.
  True where the header contradicts itself or holds values no scan can have; False where a
  reader may rightly not care (a flipped byte in a description, a flipped PixelRepresentation
  whose pixels fit both ways).
- `must_analyse`: the study's images are fine (odd names, junk beside them, an odd character
  set): the study must still be analysed.
"""

from __future__ import annotations

import io
import os
import random
import struct
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.tag import Tag

from tests.fuzz.seeds import SeedStudy, read, uid

Params = dict[str, Any]

CT_SEEDS = ("qrm", "chest", "chest-rle", "totalseg", "tumoral")
IMAGE_SEEDS = (*CT_SEEDS, "dx")
BYTE_SEEDS = (*IMAGE_SEEDS, "totalseg-whole")
COMPRESSED_SEEDS = ("chest-rle", "totalseg", "tumoral", "dx", "totalseg-whole")
RAW_SEEDS = ("qrm", "chest")


@dataclass
class Build:
    """One mutant under construction: its seed, datasets, then bytes, then folder."""

    index: int
    rng: random.Random
    seed: SeedStudy
    seeds: dict[str, SeedStudy]
    study_uid: str
    datasets: list[Dataset] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    folder: Path | None = None

    def pick(self, scope: str | None = None) -> tuple[str, list[int]]:
        """Which files a mutation touches: all, some (2 of N) or one; chosen at random unless
        given."""
        n = len(self.datasets) or len(self.blobs)
        scope = scope or self.rng.choice(["all", "some"] if n > 2 else ["all", "one"])
        if scope == "all" or n == 1:
            return "all", list(range(n))
        if scope == "some":
            return "some", sorted(self.rng.sample(range(n), 2))
        return "one", [self.rng.randrange(n)]

    def add_seed_files(self, seed: SeedStudy, study_uid: str, series_uid: str, tag: str) -> None:
        """Put another seed's files into this study (as datasets, with new SOP UIDs)."""
        for k, f in enumerate(seed.files):
            ds = read(f.data)
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid(self.study_uid, tag, k)
            self.datasets.append(ds)
            self.names.append(f"{tag}{k + 1:04d}.dcm")


@dataclass(frozen=True)
class Mutation:
    """One way to break a study, the stage it acts at, the seeds it applies to and what the
    run must make of it (see the module docstring)."""

    family: str
    variant: str
    stage: str  # dataset | bytes | files
    apply: Callable[[Build], Params]
    must_notice: bool
    must_analyse: bool = False
    seeds: tuple[str, ...] = CT_SEEDS
    keep_seed_uids: bool = False  # the seed's own UIDs are the point: no new ones per mutant

    @property
    def combinable(self) -> bool:
        """May be added to another mutation of the same study (header values only)."""
        return self.stage == "dataset" and self.family in ("geometry", "pixel", "rescale", "charset")


# --- raw values ----------------------------------------------------------------------------


def set_raw(ds: Dataset, keyword: str, vr: str, value: str | bytes) -> None:
    """Put `value` into the dataset as the bytes it is, whatever its VR allows."""
    data = value.encode("latin-1") if isinstance(value, str) else value
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    implicit, little = ds.original_encoding
    tag = Tag(tag_for_keyword(keyword))
    ds[tag] = RawDataElement(tag, vr, len(data), data, 0, bool(implicit), little is not False)


def ds_values(ds: Dataset, keyword: str) -> list[str]:
    """The element's values as text (for building a corrupted copy of them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = ds.get(keyword)
    if value is None:
        return []
    if isinstance(value, str | int | float):
        return [str(value)]
    return [str(v) for v in value]


def _on(b: Build, scope: str | None, change: Callable[[Dataset], Any]) -> Params:
    scope, targets = b.pick(scope)
    for k in targets:
        change(b.datasets[k])
    return {"scope": scope, "files": [b.names[k] for k in targets]}


def _delete(keyword: str, scope: str | None = None) -> Callable[[Build], Params]:
    def apply(b: Build) -> Params:
        def change(ds: Dataset) -> None:
            if keyword in ds:
                del ds[keyword]

        return _on(b, scope, change)

    return apply


def _raw(
    keyword: str, vr: str, make: Callable[[Dataset, random.Random], str | bytes], scope: str | None = None
) -> Callable[[Build], Params]:
    """A mutation that sets `keyword` to make(ds, rng) as raw bytes on the picked files."""

    def apply(b: Build) -> Params:
        values: list[str] = []

        def change(ds: Dataset) -> None:
            value = make(ds, b.rng)
            set_raw(ds, keyword, vr, value)
            values.append(value if isinstance(value, str) else value.decode("latin-1"))

        params = _on(b, scope, change)
        return {**params, "value": values[0] if len(set(values)) == 1 else values}

    return apply


def _const(text: str) -> Callable[[Dataset, random.Random], str]:
    return lambda ds, rng: text


def _one_component(bad: str, n: int, keyword: str) -> Callable[[Dataset, random.Random], str]:
    """The element's values with one component (at random) replaced by `bad`."""

    def make(ds: Dataset, rng: random.Random) -> str:
        values = ds_values(ds, keyword) or ["0"] * n
        values[rng.randrange(len(values))] = bad
        return "\\".join(values)

    return make


# --- geometry --------------------------------------------------------------------------------


def _iop(transform: Callable[[list[float]], list[float]]) -> Callable[[Dataset, random.Random], str]:
    def make(ds: Dataset, rng: random.Random) -> str:
        values = [float(v) for v in ds_values(ds, "ImageOrientationPatient")]
        return "\\".join(f"{v:g}" for v in transform(values))

    return make


def _duplicate_position(b: Build) -> Params:
    """Slice k takes slice k-1's position (its pixels differ)."""
    k = b.rng.randrange(1, len(b.datasets))
    b.datasets[k].ImagePositionPatient = b.datasets[k - 1].ImagePositionPatient
    return {"files": [b.names[k - 1], b.names[k]]}


GEOMETRY = [
    ("ipp_nan", _raw("ImagePositionPatient", "DS", _one_component("nan", 3, "ImagePositionPatient"))),
    ("ipp_all_nan", _raw("ImagePositionPatient", "DS", _const("nan\\nan\\nan"))),
    ("ipp_inf", _raw("ImagePositionPatient", "DS", _one_component("inf", 3, "ImagePositionPatient"))),
    ("ipp_huge", _raw("ImagePositionPatient", "DS", _one_component("1e300", 3, "ImagePositionPatient"))),
    ("ipp_missing", _delete("ImagePositionPatient")),
    ("ipp_two_values", _raw("ImagePositionPatient", "DS", _const("-100.5\\20.25"))),
    ("ipp_four_values", _raw("ImagePositionPatient", "DS", _const("-100.5\\20.25\\7.5\\1"))),
    ("ipp_text", _raw("ImagePositionPatient", "DS", _const("left\\up\\head"))),
    ("iop_zeros", _raw("ImageOrientationPatient", "DS", _const("0\\0\\0\\0\\0\\0"))),
    ("iop_parallel", _raw("ImageOrientationPatient", "DS", _iop(lambda v: v[:3] + v[:3]))),
    ("iop_non_unit", _raw("ImageOrientationPatient", "DS", _iop(lambda v: [2.5 * x for x in v]))),
    ("iop_nan", _raw("ImageOrientationPatient", "DS", _one_component("nan", 6, "ImageOrientationPatient"))),
    ("pixel_spacing_zero", _raw("PixelSpacing", "DS", _const("0\\0"))),
    ("pixel_spacing_negative", _raw("PixelSpacing", "DS", _const("-0.7\\-0.7"))),
    ("pixel_spacing_huge", _raw("PixelSpacing", "DS", _const("1e300\\1e300"))),
    ("pixel_spacing_nan", _raw("PixelSpacing", "DS", _const("nan\\nan"))),
    ("pixel_spacing_missing", _delete("PixelSpacing")),
    ("slice_thickness_negative", _raw("SliceThickness", "DS", _const("-5"), "all")),
    ("slice_thickness_zero", _raw("SliceThickness", "DS", _const("0"), "all")),
    ("duplicate_position", _duplicate_position),
]


# --- pixel module ----------------------------------------------------------------------------


def _set(
    keyword: str, value: Callable[[Dataset], Any], scope: str | None = "all"
) -> Callable[[Build], Params]:
    def apply(b: Build) -> Params:
        values: list[Any] = []

        def change(ds: Dataset) -> None:
            v = value(ds)
            setattr(ds, keyword, v)
            values.append(v)

        return {**_on(b, scope, change), "value": values[0]}

    return apply


def _several(*mutations: Callable[[Build], Params]) -> Callable[[Build], Params]:
    """Several changes to the same files (scope "all" each), as one mutation."""

    def apply(b: Build) -> Params:
        return {"changes": [m(b) for m in mutations]}

    return apply


PIXEL = [
    ("bits_allocated_8", _set("BitsAllocated", lambda ds: 8)),
    ("bits_stored_over_allocated", _set("BitsStored", lambda ds: ds.BitsAllocated + 4)),
    ("high_bit_wrong", _set("HighBit", lambda ds: ds.BitsStored + 2)),
    ("high_bit_low", _set("HighBit", lambda ds: 7)),
    ("rows_smaller", _set("Rows", lambda ds: ds.Rows // 2, None)),
    ("rows_larger", _set("Rows", lambda ds: ds.Rows * 2, None)),
    ("columns_smaller", _set("Columns", lambda ds: ds.Columns - 3, None)),
    ("columns_larger", _set("Columns", lambda ds: ds.Columns + 5, None)),
    ("photometric_rgb", _set("PhotometricInterpretation", lambda ds: "RGB")),
    ("photometric_palette", _set("PhotometricInterpretation", lambda ds: "PALETTE COLOR")),
    ("photometric_missing", _delete("PhotometricInterpretation", "all")),
    ("photometric_unknown", _set("PhotometricInterpretation", lambda ds: "MONOCHROME3")),
    ("samples_per_pixel_3", _set("SamplesPerPixel", lambda ds: 3)),
    ("number_of_frames_huge", _set("NumberOfFrames", lambda ds: "100000")),
    ("number_of_frames_zero", _set("NumberOfFrames", lambda ds: "0")),
]
PIXEL_QUIET = [  # self-consistent headers whose pixels may read the same either way
    ("pixel_representation_flipped", _set("PixelRepresentation", lambda ds: 1 - ds.PixelRepresentation)),
]


# --- rescale ---------------------------------------------------------------------------------

RESCALE = [
    ("slope_zero", _raw("RescaleSlope", "DS", _const("0"))),
    ("slope_nan", _raw("RescaleSlope", "DS", _const("nan"))),
    ("slope_inf", _raw("RescaleSlope", "DS", _const("inf"))),
    ("slope_huge", _raw("RescaleSlope", "DS", _const("1e300"))),
    ("slope_text", _raw("RescaleSlope", "DS", _const("one"))),
    ("slope_negative", _raw("RescaleSlope", "DS", _const("-1"))),
    ("intercept_nan", _raw("RescaleIntercept", "DS", _const("nan"))),
    ("intercept_huge", _raw("RescaleIntercept", "DS", _const("1e300"))),
    ("intercept_text", _raw("RescaleIntercept", "DS", _const("-1024 HU"))),
]


# --- UIDs ------------------------------------------------------------------------------------

UID_KEYWORDS = {"study": "StudyInstanceUID", "series": "SeriesInstanceUID", "sop": "SOPInstanceUID"}


def bad_uid(kind: str, index: int, k: int | None) -> str:
    """An invalid UID of this kind, its own for each mutant (and each file, for SOP UIDs):
    a value shared by several mutants would merge them into one study, and the merge's
    warning would hide whether the bad UID itself is noticed."""
    tail = f"{index}" if k is None else f"{index}.{k}"
    return {
        "empty": "",
        "invalid_chars": f"1.2.840.abc.{tail}_x",
        "path_like": f"../../x{tail}",
        "too_long": f"1.2.{tail}.".ljust(79, "9"),
        "leading_zero": f"1.02.{tail}",
    }[kind]


def _bad_uid(level: str, kind: str, scope: str | None = None) -> Callable[[Build], Params]:
    keyword = UID_KEYWORDS[level]

    def apply(b: Build) -> Params:
        scope_used, targets = b.pick(scope)
        values = []
        for k in targets:
            if kind == "missing":
                del b.datasets[k][keyword]
                continue
            values.append(bad_uid(kind, b.index, k if level == "sop" else None))
            set_raw(b.datasets[k], keyword, "UI", values[-1])
        return {"scope": scope_used, "files": [b.names[k] for k in targets], "values": sorted(set(values))}

    return apply


def _duplicate_sop(b: Build) -> Params:
    """Two files with one SOP Instance UID and different pixels (not a copy)."""
    k = b.rng.randrange(1, len(b.datasets))
    b.datasets[k].SOPInstanceUID = b.datasets[0].SOPInstanceUID
    b.datasets[k].file_meta.MediaStorageSOPInstanceUID = b.datasets[0].SOPInstanceUID
    return {"files": [b.names[0], b.names[k]]}


def _series_shared(b: Build) -> Params:
    """Another scan (another seed) filed under this study's series UID."""
    other = b.rng.choice([s for s in CT_SEEDS if s != b.seed.name])
    series = str(b.datasets[0].SeriesInstanceUID)
    b.add_seed_files(b.seeds[other], b.study_uid, series, "OTHER")
    return {"other_seed": other}


def _real_empty_uids(b: Build) -> Params:
    """The TotalSegmentator export as it is (its seed keeps them): Study, Series, SOP Class and
    SOP Instance UIDs all empty."""
    return {"seed": b.seed.name}


UIDS = [
    (f"{level}_{kind}", _bad_uid(level, kind))
    for level in ("study", "series", "sop")
    for kind in ("empty", "missing", "invalid_chars", "path_like", "too_long")
] + [
    ("series_leading_zero", _bad_uid("series", "leading_zero", "all")),
    ("sop_duplicate_different_pixels", _duplicate_sop),
    ("series_shared_by_two_scans", _series_shared),
]


# --- transfer syntax and file meta (bytes stage) -------------------------------------------

TS_NAMES = {
    "1.2.840.10008.1.2": "implicit_le",
    "1.2.840.10008.1.2.1": "explicit_le",
    "1.2.840.10008.1.2.2": "explicit_be",
    "1.2.840.10008.1.2.1.99": "deflated",
    "1.2.840.10008.1.2.5": "rle",
    "1.2.840.10008.1.2.4.50": "jpeg_baseline",
    "1.2.840.10008.1.2.4.70": "jpeg_lossless",
    "1.2.840.10008.1.2.4.80": "jpeg_ls",
    "1.2.840.10008.1.2.4.90": "j2k_lossless",
}
LITTLE_ENDIAN_VR = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


def meta_end(blob: bytes) -> int:
    """Offset of the first byte after the file meta group (preamble, DICM, group)."""
    (length,) = struct.unpack("<I", blob[140:144])
    return 144 + length


def pixel_offset(blob: bytes) -> int:
    """Offset of the Pixel Data element's tag (the last one: no element follows it here)."""
    return blob.rfind(b"\xe0\x7f\x10\x00")


def _replace_meta(blob: bytes, change: Callable[[Dataset], None]) -> bytes:
    """The file with its file meta group rewritten after `change` (dataset bytes untouched)."""
    meta = read(blob, stop_before_pixels=True).file_meta
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a transfer syntax that is not a UID, on purpose
        change(meta)
        write_file_meta_info(fp, meta, enforce_standard=True)
    return blob[:132] + fp.getvalue() + blob[meta_end(blob) :]


def _on_blobs(b: Build, scope: str | None, change: Callable[[bytes], tuple[bytes, Params]]) -> Params:
    scope, targets = b.pick(scope)
    details = []
    for k in targets:
        b.blobs[k], detail = change(b.blobs[k])
        details.append({"file": b.names[k], **detail})
    return {"scope": scope, "files": details}


def _transfer_syntax(choose: Callable[[str, random.Random], str]) -> Callable[[Build], Params]:
    def apply(b: Build) -> Params:
        actual = b.seed.transfer_syntax
        new = choose(actual, b.rng)

        def change(blob: bytes) -> tuple[bytes, Params]:
            def set_ts(meta: Dataset) -> None:
                meta.TransferSyntaxUID = new

            return _replace_meta(blob, set_ts), {}

        return {**_on_blobs(b, "all", change), "from": actual, "to": new}

    return apply


def _other_codec(actual: str, rng: random.Random) -> str:
    """Another syntax whose data differ from the file's (not implicit/explicit LE swaps)."""
    same_family = LITTLE_ENDIAN_VR if actual in LITTLE_ENDIAN_VR else {actual}
    return rng.choice(sorted(set(TS_NAMES) - same_family))


def _vr_swap(actual: str, rng: random.Random) -> str:
    return "1.2.840.10008.1.2.1" if actual == "1.2.840.10008.1.2" else "1.2.840.10008.1.2"


def _strip_meta(b: Build) -> Params:
    """No preamble and no file meta: the dataset alone, transfer syntax unknown."""
    for k, blob in enumerate(b.blobs):
        b.blobs[k] = blob[meta_end(blob) :]
    return {"files": list(b.names)}


def _group_length(delta: int) -> Callable[[Build], Params]:
    def change(blob: bytes) -> tuple[bytes, Params]:
        (length,) = struct.unpack("<I", blob[140:144])
        return blob[:140] + struct.pack("<I", length + delta) + blob[144:], {"was": length}

    return lambda b: {**_on_blobs(b, None, change), "delta": delta}


TRANSFER = [
    ("ts_other_codec", _transfer_syntax(_other_codec)),
    ("ts_unknown_uid", _transfer_syntax(lambda actual, rng: "1.2.3.4.5.6.7.8.9")),
    ("ts_not_a_uid", _transfer_syntax(lambda actual, rng: "JPEG2000")),
]
TRANSFER_RAW_QUIET = [  # pydicom tells implicit from explicit VR by the bytes; a reader may not care
    ("ts_implicit_explicit_swapped", _transfer_syntax(_vr_swap)),
    ("no_file_meta_raw", _strip_meta),
]
TRANSFER_COMPRESSED = [("no_file_meta_compressed", _strip_meta)]
GROUP_LENGTH = [("group_length_plus_1", _group_length(1)), ("group_length_minus_1", _group_length(-1))]


# --- character sets (dataset stage) ----------------------------------------------------------

JAPANESE = b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B"
KOREAN = b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf"


def _charset(charset: str, name: bytes, description: bytes | None = None) -> Callable[[Build], Params]:
    def change(ds: Dataset) -> None:
        set_raw(ds, "SpecificCharacterSet", "CS", charset)
        set_raw(ds, "PatientName", "PN", name)
        if description is not None:
            set_raw(ds, "SeriesDescription", "LO", description)

    return lambda b: {**_on(b, "all", change), "charset": charset}


CHARSET = [
    ("charset_unknown", _charset("ISO_IR 999", "Müller^Jörg".encode("latin-1"))),
    ("charset_lowercase", _charset("iso_ir 100", "Müller^Jörg".encode("latin-1"))),
    ("charset_iso2022_japanese", _charset("\\ISO 2022 IR 87", JAPANESE)),
    ("charset_iso2022_korean", _charset("\\ISO 2022 IR 149", KOREAN)),
    ("charset_utf8_with_latin1_bytes", _charset("ISO_IR 192", "Müller^Jörg".encode("latin-1"), b"Th\xf6rax")),
    ("charset_iso2022_unknown_escape", _charset("ISO 2022 IR 6\\ISO 2022 IR 999", b"A\x1b$(Z\x21\x21^B")),
    ("charset_gb18030_bytes_as_ascii", _charset("", "王^小明".encode("gb18030"))),
]


# --- byte level (bytes stage) ----------------------------------------------------------------


def _region(blob: bytes, where: str) -> tuple[int, int]:
    """[start, end) of a part of the file: meta, header (the dataset before the pixels) or pixels."""
    start, pixels = meta_end(blob), pixel_offset(blob)
    if where == "meta":
        return 132, start
    if where == "header":
        return start, pixels
    return pixels + 12, len(blob)


def _flip(where: str) -> Callable[[Build], Params]:
    def apply(b: Build) -> Params:
        def change(blob: bytes) -> tuple[bytes, Params]:
            start, end = _region(blob, where)
            data = bytearray(blob)
            offsets = sorted(b.rng.randrange(start, end) for _ in range(b.rng.randint(1, 8)))
            for offset in offsets:
                data[offset] ^= 1 << b.rng.randrange(8)
            return bytes(data), {"offsets": offsets}

        return _on_blobs(b, None, change)

    return apply


def _truncate(where: str) -> Callable[[Build], Params]:
    def apply(b: Build) -> Params:
        def change(blob: bytes) -> tuple[bytes, Params]:
            start, end = _region(blob, where)
            cut = b.rng.randrange(start, end)
            return blob[:cut], {"length": cut, "was": len(blob)}

        return _on_blobs(b, b.rng.choice(["one", "some"]), change)

    return apply


BYTES = [
    ("truncate_in_meta", _truncate("meta")),
    ("truncate_in_header", _truncate("header")),
    ("truncate_in_pixels", _truncate("pixels")),
]
BYTES_QUIET = [  # a flipped bit may land where nobody looks
    ("flip_meta", _flip("meta")),
    ("flip_header", _flip("header")),
    ("flip_pixels", _flip("pixels")),
    *GROUP_LENGTH,
]


# --- memory bombs (dataset stage) ------------------------------------------------------------

MEMORY = [
    (
        "claims_800_gb",
        _several(
            _set("Rows", lambda ds: 65535),
            _set("Columns", lambda ds: 65535),
            _set("NumberOfFrames", lambda ds: "100"),
        ),
    ),
    ("rows_columns_65535", _several(_set("Rows", lambda ds: 65535), _set("Columns", lambda ds: 65535))),
    ("bits_allocated_64", _set("BitsAllocated", lambda ds: 64)),
    ("bits_allocated_32", _set("BitsAllocated", lambda ds: 32)),
    ("frames_2_31", _set("NumberOfFrames", lambda ds: "2147483647")),
]


# --- junk and names (files stage) ------------------------------------------------------------


def _folder(b: Build) -> Path:
    assert b.folder is not None
    return b.folder


def _junk_name(b: Build, stem: str) -> str:
    return stem + b.rng.choice(["", ".dcm", ".DCM", ".bin"])


def _write_junk(stem: str, make: Callable[[Build], bytes]) -> Callable[[Build], Params]:
    def apply(b: Build) -> Params:
        name = _junk_name(b, stem)
        (_folder(b) / name).write_bytes(make(b))
        return {"junk": [name]}

    return apply


def _nifti(b: Build) -> bytes:
    """A minimal NIfTI-1 image (4 x 4 x 2 int16), written by hand: no nibabel needed."""
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, 4, 4, 2, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, 4, 16)  # datatype int16, bitpix
    struct.pack_into("<8f", header, 76, 1, 1, 1, 2, 0, 0, 0, 0)
    struct.pack_into("<f", header, 108, 352)
    header[344:348] = b"n+1\0"
    return bytes(header) + b"\0" * 4 + bytes(range(64))


def _zip(b: Build) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("IM0001.dcm", date_time=(2020, 1, 1, 0, 0, 0)), b.blobs[0])
    return buf.getvalue()


def _fake_preamble(b: Build) -> bytes:
    """128 random bytes, 'DICM', then garbage: looks like DICOM to a marker check only."""
    return b.rng.randbytes(128) + b"DICM" + b.rng.randbytes(b.rng.randint(0, 400))


def _raw_like(b: Build) -> bytes:
    """Starts like a raw dataset (group 0008) and then is garbage."""
    return b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100" + b.rng.randbytes(b.rng.randint(10, 3000))


def _special(make: Callable[[Path], None], name: str) -> Callable[[Build], Params]:
    def apply(b: Build) -> Params:
        make(_folder(b) / name)
        return {"junk": [name]}

    return apply


def _file_symlink(b: Build) -> Params:
    """A symlink to one of the study's own files (the same image reached twice)."""
    target = b.rng.choice(b.names)
    os.symlink(target, _folder(b) / "link-to-image.dcm")
    return {"junk": ["link-to-image.dcm"], "target": target}


def _hard_link(b: Build) -> Params:
    """A hard link: another name for a file, not a symlink (a copy as far as content goes)."""
    target = b.rng.choice(b.names)
    os.link(_folder(b) / target, _folder(b) / "hardlink-copy.dcm")
    return {"junk": ["hardlink-copy.dcm"], "target": target}


def _copy_in_subfolder(b: Build) -> Params:
    """An exact copy of one file in a subfolder (same SOP Instance UID)."""
    k = b.rng.randrange(len(b.names))
    (_folder(b) / "copy").mkdir()
    (_folder(b) / "copy" / b.names[k]).write_bytes(b.blobs[k])
    return {"junk": [f"copy/{b.names[k]}"]}


JUNK = [
    ("random_bytes", _write_junk("junk", lambda b: b.rng.randbytes(b.rng.randint(1, 20000)))),
    ("empty_file", _write_junk("empty", lambda b: b"")),
    ("one_byte", _write_junk("tiny", lambda b: b"\x00")),
    ("text_file", _write_junk("notes", lambda b: b"Scanned on the old CT; see the paper request.\n" * 3)),
    ("zip_of_dicom", _write_junk("archive.zip", _zip)),
    ("nifti", _write_junk("image.nii", _nifti)),
    ("fake_preamble", _write_junk("fake", _fake_preamble)),
    ("raw_dataset_like", _write_junk("rawish", _raw_like)),
    ("dicomdir_garbage", _write_junk("DICOMDIR", lambda b: b.rng.randbytes(2000))),
    ("fifo", _special(os.mkfifo, "a-pipe.dcm")),
    ("symlink_loop", _special(lambda p: os.symlink(".", p), "loop")),
    ("dangling_symlink", _special(lambda p: os.symlink("does-not-exist.dcm", p), "dangling.dcm")),
    ("file_symlink_to_own_image", _file_symlink),
    ("hard_link_copy", _hard_link),
    ("copy_in_subfolder", _copy_in_subfolder),
]


def _rename(make: Callable[[str, int, random.Random], str]) -> Callable[[Build], Params]:
    """Rename the study's files (the bytes stay as they are)."""

    def apply(b: Build) -> Params:
        renamed = {}
        for k, old in enumerate(b.names):
            new = make(old, k, b.rng)
            os.rename(_folder(b) / old, _folder(b) / new)
            renamed[old] = new
            b.names[k] = new
        return {"renamed": renamed}

    return apply


NAMES = [
    ("spaces", _rename(lambda old, k, rng: f"slice {k + 1} of study .dcm")),
    ("unicode", _rename(lambda old, k, rng: f"Schädel-头部-{k + 1}-✓.dcm")),
    ("leading_dash", _rename(lambda old, k, rng: f"-{k + 1}--help" if k % 2 else f"--rf {k}")),
    ("name_255_bytes", _rename(lambda old, k, rng: f"{k + 1}".rjust(251, "L") + ".dcm")),
    ("newline_in_name", _rename(lambda old, k, rng: f"IM{k + 1}\nsecond line.dcm")),
    ("hidden_files", _rename(lambda old, k, rng: f".IM{k + 1:04d}")),
    ("no_extension_hex", _rename(lambda old, k, rng: f"{rng.getrandbits(32):08X}")),
    ("backslash_and_quotes", _rename(lambda old, k, rng: f"a\\b \"{k}\" 'c'.dcm")),
]


# --- benign changes (dataset stage): must still be analysed --------------------------------


def _series_description(b: Build) -> Params:
    return _on(b, "all", lambda ds: setattr(ds, "SeriesDescription", "Thorax/Abdomen 5mm (fuzzed)"))


def _instance_numbers_shuffled(b: Build) -> Params:
    numbers = list(range(1, len(b.datasets) + 1))
    b.rng.shuffle(numbers)
    for ds, n in zip(b.datasets, numbers, strict=True):
        ds.InstanceNumber = n
    return {"numbers": numbers}


def _second_series(b: Build) -> Params:
    """A second, different scan as another series of the same study."""
    other = b.rng.choice([s for s in CT_SEEDS if s != b.seed.name])
    b.add_seed_files(b.seeds[other], b.study_uid, uid(b.study_uid, "second series"), "SER2_")
    return {"other_seed": other}


def _ct_and_radiograph(b: Build) -> Params:
    b.add_seed_files(b.seeds["dx"], b.study_uid, uid(b.study_uid, "dx series"), "DX")
    return {"added": "dx"}


BENIGN = [
    ("series_description", _series_description),
    ("instance_numbers_shuffled", _instance_numbers_shuffled),
    ("second_series", _second_series),
    ("ct_and_radiograph", _ct_and_radiograph),
]


# --- the catalogue ---------------------------------------------------------------------------


def _family(
    family: str,
    stage: str,
    entries: list,
    must_notice: bool,
    must_analyse: bool = False,
    seeds: tuple[str, ...] = CT_SEEDS,
) -> list[Mutation]:
    return [Mutation(family, name, stage, fn, must_notice, must_analyse, seeds) for name, fn in entries]


CATALOGUE: list[Mutation] = [
    *_family("geometry", "dataset", GEOMETRY, True),
    *_family("pixel", "dataset", PIXEL, True, seeds=IMAGE_SEEDS),
    *_family("pixel", "dataset", PIXEL_QUIET, False, seeds=IMAGE_SEEDS),
    *_family("rescale", "dataset", RESCALE, True, seeds=IMAGE_SEEDS),
    *_family("uids", "dataset", UIDS, True, seeds=CT_SEEDS),
    Mutation(
        "uids", "real_empty_uids", "dataset", _real_empty_uids, True, False, ("totalseg-empty-uids",), True
    ),
    *_family("transfer", "bytes", TRANSFER, True, seeds=BYTE_SEEDS),
    *_family("transfer", "bytes", TRANSFER_RAW_QUIET, False, seeds=RAW_SEEDS),
    *_family("transfer", "bytes", TRANSFER_COMPRESSED, True, seeds=COMPRESSED_SEEDS),
    *_family("charset", "dataset", CHARSET, False, True, seeds=IMAGE_SEEDS),
    *_family("bytes", "bytes", BYTES, True, seeds=BYTE_SEEDS),
    *_family("bytes", "bytes", BYTES_QUIET, False, seeds=BYTE_SEEDS),
    *_family("memory", "dataset", MEMORY, True, seeds=IMAGE_SEEDS),
    *_family("junk", "files", JUNK, True, True, seeds=IMAGE_SEEDS),
    *_family("names", "files", NAMES, False, True, seeds=IMAGE_SEEDS),
    *_family("benign", "dataset", BENIGN, False, True, seeds=CT_SEEDS),
]
