"""Decoding pixel data of one file, whatever its transfer syntax.

pydicom decodes every syntax calcscan supports through its plugins (pylibjpeg with openjpeg,
libjpeg and rle: JPEG 2000, JPEG-LS, JPEG lossless/baseline, RLE; deflate and big endian
natively). Problems come back as `DecodeProblem` with a reason naming the cause.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian


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
    _infer_transfer_syntax(ds)
    return ds


def _infer_transfer_syntax(ds: Dataset) -> None:
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


def decode_frames(ds: Dataset) -> np.ndarray:
    """Stored values as (frames, rows, columns), whatever the file's frame count."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = ds.pixel_array
    except Exception as exc:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        syntax = getattr(ts, "name", ts) or "unknown transfer syntax"
        raise DecodeProblem(f"pixel data cannot be decoded ({syntax}): {plain_message(exc)}") from None
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim == 3 and ds.get("SamplesPerPixel", 1) == 1:
        return arr
    raise DecodeProblem(f"unexpected pixel array shape {arr.shape} for a greyscale image")


def plain_message(exc: BaseException) -> str:
    """A decoder's message without Python's vocabulary (class names, tracebacks)."""
    if isinstance(exc, MemoryError):
        return "too large to decode in memory"
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = re.sub(r"\b[A-Z]\w*(Error|Exception)\b:?\s*", "", text).strip()
    return text[:200] or "the decoder rejected the data"


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
