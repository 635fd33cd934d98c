"""Seed studies: small crops of real scans, their real headers kept.

Why crops: a fuzz run analyses a thousand studies or more on two cores, so each must cost a
fraction of a second; a 64 x 64 x 5 crop keeps the real header, transfer syntax and pixel
statistics of the scan it comes from. The sources are read-only; the crops live only in
memory and in the corpus folder the caller chooses.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    generate_uid,
)

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE = REPO / "sample_data"

CROP = 64  # in-plane size of a CT crop (pixels)
N_SLICES = 5  # slices of a CT crop
DX_CROP = 96  # in-plane size of a radiograph crop
N_WHOLE = 3  # whole-size JPEG 2000 slices kept for byte-level mutations of real codestreams

UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}


@dataclass(frozen=True)
class SeedFile:
    name: str
    data: bytes


@dataclass(frozen=True)
class SeedStudy:
    """One clean study: its files as bytes, and what kind of data they hold."""

    name: str
    source: str  # where it was cut from, relative to the repository's parent
    modality: str  # CT | DX
    transfer_syntax: str
    files: tuple[SeedFile, ...]

    @property
    def compressed(self) -> bool:
        return self.transfer_syntax not in UNCOMPRESSED


def uid(*parts: object) -> UID:
    """A valid UID derived from `parts` (the same parts always give the same UID)."""
    return generate_uid(prefix="2.25.", entropy_srcs=[str(p) for p in parts])


def to_bytes(ds: Dataset) -> bytes:
    """The dataset as a file, written as it was read (encoding kept, raw values untouched)."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the character set as it is now counts as the original one: pydicom then writes raw
        # values (NaN, text in numbers, bytes in another charset) as they are, never re-encoded
        ds.set_original_encoding(*ds.original_encoding, ds._character_set)
        ds.save_as(buf)
    return buf.getvalue()


def read(data: bytes | Path, stop_before_pixels: bool = False) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = io.BytesIO(data) if isinstance(data, bytes) else data
        return pydicom.dcmread(source, stop_before_pixels=stop_before_pixels, force=True)


# --- CT crops ------------------------------------------------------------------------------


def _normal_position(ds: Dataset) -> float:
    """Position along the slice normal: the only trustworthy slice order."""
    iop = np.asarray(ds.ImageOrientationPatient, float)
    return float(np.dot(np.cross(iop[:3], iop[3:]), np.asarray(ds.ImagePositionPatient, float)))


def _middle_slices(folder: Path, n: int) -> list[Path]:
    """`n` consecutive slices from the middle of the (single-series) folder."""
    paths = sorted(p for p in folder.iterdir() if p.is_file())
    ordered = sorted(paths, key=lambda p: _normal_position(read(p, stop_before_pixels=True)))
    start = max(0, len(ordered) // 2 - n // 2)
    return ordered[start : start + n]


def _hu(ds: Dataset) -> np.ndarray:
    return ds.pixel_array * float(ds.get("RescaleSlope", 1) or 1) + float(ds.get("RescaleIntercept", 0) or 0)


def _centre_origin(hu: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of a crop centred on the body (pixels above -300 HU), inside the image."""
    body = np.argwhere(hu.max(axis=0) > -300)
    rows, columns = hu.shape[1:]
    centre = body.mean(axis=0) if len(body) else np.array([rows / 2, columns / 2])
    r0 = int(np.clip(round(centre[0]) - size // 2, 0, rows - size))
    c0 = int(np.clip(round(centre[1]) - size // 2, 0, columns - size))
    return r0, c0


def _soft_tissue_origin(hu: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the crop (on a 16-pixel grid) that is nearly all body with the
    fewest pixels above 130 HU. Why: every bright clump becomes a deposit with key images,
    and a study's report costs ~0.1 s per deposit; the fuzz run is about the header, so most
    seeds are cut from soft tissue (one, chest-rle, keeps the spine to exercise the report)."""
    rows, columns = hu.shape[1:]
    best: tuple[float, int, int] | None = None
    for r0 in range(0, rows - size + 1, 16):
        for c0 in range(0, columns - size + 1, 16):
            window = hu[:, r0 : r0 + size, c0 : c0 + size]
            bright = float((window > 130).mean())
            if (window > -300).mean() >= 0.95 and (best is None or bright < best[0]):
                best = (bright, r0, c0)
    return (best[1], best[2]) if best else _centre_origin(hu, size)


def _crop(ds: Dataset, r0: int, c0: int, size: int, transfer_syntax: str) -> Dataset:
    """The dataset cut to `size` x `size` from (r0, c0), the geometry moved with it."""
    pixels = np.ascontiguousarray(ds.pixel_array[r0 : r0 + size, c0 : c0 + size])
    if "ImagePositionPatient" in ds:
        iop = np.asarray(ds.ImageOrientationPatient, float)
        row_mm, col_mm = (float(v) for v in ds.PixelSpacing)
        ipp = np.asarray(ds.ImagePositionPatient, float) + c0 * col_mm * iop[:3] + r0 * row_mm * iop[3:]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp]
    for keyword in ("SmallestImagePixelValue", "LargestImagePixelValue"):
        if keyword in ds:
            del ds[keyword]
    ds.Rows, ds.Columns = pixels.shape
    if str(ds.file_meta.TransferSyntaxUID) not in UNCOMPRESSED:  # the pixels are now native
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = pixels.tobytes()
    if transfer_syntax not in UNCOMPRESSED:
        ds.compress(transfer_syntax, generate_instance_uid=False)
    return ds


def _fill_uids(ds: Dataset, seed_name: str, index: int) -> None:
    """Real files with empty UIDs (the TotalSegmentator export) get derived ones, so that a
    seed is a clean study; the empty-UID case is a mutation of its own."""
    if not str(ds.get("StudyInstanceUID", "")):
        ds.StudyInstanceUID = uid(seed_name, "study")
    if not str(ds.get("SeriesInstanceUID", "")):
        ds.SeriesInstanceUID = uid(seed_name, "series")
    if not str(ds.get("SOPClassUID", "")):
        ds.SOPClassUID = CTImageStorage
    if not str(ds.get("SOPInstanceUID", "")):
        ds.SOPInstanceUID = uid(seed_name, "sop", index)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def ct_crop(
    name: str, folder: Path, transfer_syntax: str | None = None, fill_uids: bool = True, where: str = "soft"
) -> SeedStudy:
    """A CROP x CROP x N_SLICES cut of the CT series in `folder` (transfer syntax kept unless
    given), from soft tissue or (`where="centre"`) the middle of the body."""
    paths = _middle_slices(folder, N_SLICES)
    datasets = [read(p) for p in paths]
    hu = np.stack([_hu(ds) for ds in datasets])
    r0, c0 = (_soft_tissue_origin if where == "soft" else _centre_origin)(hu, CROP)
    ts = transfer_syntax or str(datasets[0].file_meta.TransferSyntaxUID)
    files = []
    for k, ds in enumerate(datasets):
        ds = _crop(ds, r0, c0, CROP, ts)
        if fill_uids:
            _fill_uids(ds, name, k)
        files.append(SeedFile(f"IM{k + 1:04d}.dcm", to_bytes(ds)))
    return SeedStudy(name, _source(folder), "CT", ts, tuple(files))


def whole_slices(name: str, folder: Path, n: int = N_WHOLE) -> SeedStudy:
    """`n` whole real slices, codestream untouched (only empty UIDs filled): byte flips
    then hit a real encoder's JPEG 2000, not ours."""
    files = []
    for k, path in enumerate(_middle_slices(folder, n)):
        ds = read(path)
        _fill_uids(ds, name, k)
        files.append(SeedFile(f"IM{k + 1:04d}.dcm", to_bytes(ds)))
    return SeedStudy(
        name, _source(folder), "CT", str(read(files[0].data).file_meta.TransferSyntaxUID), tuple(files)
    )


def dx_crop(name: str, path: Path) -> SeedStudy:
    """A DX_CROP square from the middle of a radiograph (transfer syntax kept)."""
    ds = read(path)
    r0 = (ds.Rows - DX_CROP) // 2
    c0 = (ds.Columns - DX_CROP) // 2
    ts = str(ds.file_meta.TransferSyntaxUID)
    ds = _crop(ds, r0, c0, DX_CROP, ts)
    return SeedStudy(name, _source(path), "DX", ts, (SeedFile("DX0001.dcm", to_bytes(ds)),))


def _source(path: Path) -> str:
    return os.path.relpath(path, REPO.parent)


# --- the seed set --------------------------------------------------------------------------

QRM = SHARED_DATA / "qrm-canon-large-rep1" / "dicom"
CHEST = SHARED_DATA / "pyradiomics-chest-ct" / "dicom"
TOTALSEG = SHARED_DATA / "totalseg-contrast-upper-abdomen" / "dicom"

SEED_MAKERS: dict[str, Callable[[], SeedStudy]] = {
    "qrm": lambda: ct_crop("qrm", QRM),  # implicit VR little endian, signed
    "chest": lambda: ct_crop("chest", CHEST),  # explicit VR little endian
    # RLE, which pydicom encodes itself; the spine and its deposits kept
    "chest-rle": lambda: ct_crop("chest-rle", CHEST, RLELossless, where="centre"),
    "totalseg": lambda: ct_crop("totalseg", TOTALSEG, JPEG2000Lossless),  # 12 of 16 bits, unsigned
    "tumoral": lambda: ct_crop("tumoral", SAMPLE / "tumoral" / "CT"),  # the sample phantom, JPEG 2000
    "dx": lambda: dx_crop("dx", SAMPLE / "dystrophic" / "DX" / "DX0001.dcm"),
    "totalseg-whole": lambda: whole_slices("totalseg-whole", TOTALSEG),
}
# only for the mutations that need them, never picked at random
SPECIAL_SEEDS: dict[str, Callable[[], SeedStudy]] = {
    "totalseg-empty-uids": lambda: ct_crop("totalseg-empty-uids", TOTALSEG, JPEG2000Lossless, False),
}
SENTINEL_SEED = "chest"


def missing_sources() -> list[Path]:
    """Source folders that are not there (the corpus cannot be built without them)."""
    return [
        p for p in (QRM, CHEST, TOTALSEG, SAMPLE / "tumoral" / "CT", SAMPLE / "dystrophic") if not p.exists()
    ]


def build_seeds() -> dict[str, SeedStudy]:
    """Every seed study by name (deterministic: the same sources give the same bytes)."""
    return {name: make() for name, make in {**SEED_MAKERS, **SPECIAL_SEEDS}.items()}
