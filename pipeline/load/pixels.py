"""Decoding pixel data of one file, whatever its transfer syntax.

pydicom decodes every syntax calcscan supports through its plugins (pylibjpeg with openjpeg,
libjpeg and rle: JPEG 2000, JPEG-LS, JPEG lossless/baseline, RLE; deflate and big endian
natively). Problems come back as `DecodeProblem` with a reason naming the cause.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pipeline.errors import decoder_message, must_propagate


class DecodeProblem(Exception):
    """Pixel data that cannot be turned into an array; the message is the user's reason."""


def read_dataset(path: Path) -> Dataset:
    """The whole file, pixels included (the loader needs both)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
    except OSError as exc:
        raise DecodeProblem(f"unreadable: {exc.strerror or exc}") from None
    except Exception:
        raise DecodeProblem("cannot be parsed as DICOM when read in full (damaged file)") from None
    infer_transfer_syntax(ds)
    return ds


def infer_transfer_syntax(ds: Dataset) -> None:
    """Datasets stored without file meta (no preamble) are uncompressed: name their encoding.

    pydicom detects the VR style and byte order while reading but needs the transfer syntax
    in the file meta to decode pixels.
    """
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID"):
        return
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit is False:
        syntax = ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian
    else:
        syntax = ImplicitVRLittleEndian
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    meta.TransferSyntaxUID = syntax
    if not meta.get("MediaStorageSOPClassUID") and ds.get("SOPClassUID"):
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if not meta.get("MediaStorageSOPInstanceUID") and ds.get("SOPInstanceUID"):
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def output_header(path: Path) -> Dataset:
    """A source file's header (no pixels) as the DICOM writers quote it: read even without
    file meta, the transfer syntax named, and text in UTF-8 (ISO_IR 192) when the file used
    code extensions (ISO 2022) that highdicom cannot declare; pydicom has already decoded the
    values, so nothing is lost."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    infer_transfer_syntax(ds)
    charsets = ds.get("SpecificCharacterSet")
    if charsets is not None and (not isinstance(charsets, str) or "2022" in charsets):
        ds.decode()
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def decode_frames(ds: Dataset) -> np.ndarray:
    """Stored values as (frames, rows, columns), whatever the file's frame count."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = ds.pixel_array
    except BaseException as exc:
        if must_propagate(exc):
            raise
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        syntax = getattr(ts, "name", ts) or "unknown transfer syntax"
        raise DecodeProblem(f"pixel data cannot be decoded ({syntax}): {decoder_message(exc)}") from None
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim == 3 and ds.get("SamplesPerPixel", 1) == 1:
        return arr
    raise DecodeProblem(f"unexpected pixel array shape {arr.shape} for a greyscale image")


def padding_mask(stored: np.ndarray, ds: Dataset) -> np.ndarray | None:
    """Pixels marked as padding (PixelPaddingValue, up to PixelPaddingRangeLimit), or None.

    Both values are in stored-value space, before the rescale (PS3.3 C.7.5.1.1.2).
    """
    value = ds.get("PixelPaddingValue")
    if value is None:
        return None
    limit = ds.get("PixelPaddingRangeLimit")
    if limit is None:
        return stored == value
    lo, hi = sorted((int(value), int(limit)))
    return (stored >= lo) & (stored <= hi)
