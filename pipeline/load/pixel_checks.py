"""Checks of decoded pixels: values a header promises, and values CT can hold.

A header can pass every check and still describe its data wrongly: PixelRepresentation
flipped (signed air at -1000 read as 64536), BitsStored smaller than the bits used, or
damaged compressed data that decodes to values no detector stores. Such a slice analysed as
it is gives "deposits" of 60000 HU, so it is dropped with its reason instead.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from pipeline.dicom.checks import stored_range
from pipeline.dicom.values import integer

OUT_OF_RANGE_LIMIT = 0.001  # share of pixels outside the BitsStored range that is damage
# No tissue or implant covers a large part of a slice above this; metal streaks and
# implants stay well under the limit share.
IMPLAUSIBLE_HU = 5000.0
IMPLAUSIBLE_SHARE = 0.05


def stored_values_problem(stored: np.ndarray, ds: Dataset | None) -> str | None:
    """Decoded values outside what BitsStored and PixelRepresentation allow, or None."""
    if ds is None:
        return None
    bounds = stored_range(integer(ds, "BitsStored"), integer(ds, "PixelRepresentation"))
    if bounds is None or stored.dtype.kind not in "iu":
        return None
    lo, hi = bounds
    outside = np.count_nonzero((stored < lo) | (stored > hi))
    if outside > OUT_OF_RANGE_LIMIT * stored.size:
        return (
            f"{outside} decoded values lie outside the {lo}..{hi} range of BitsStored "
            f"{integer(ds, 'BitsStored')}: the pixel data or its pixel module is damaged"
        )
    return None


def hounsfield_problem(values: np.ndarray) -> str | None:
    """A slice whose rescaled values are mostly not Hounsfield units, or None."""
    share = float(np.count_nonzero(values > IMPLAUSIBLE_HU)) / max(values.size, 1)
    if share > IMPLAUSIBLE_SHARE:
        return (
            f"{share:.0%} of the slice is above {IMPLAUSIBLE_HU:.0f} HU, which no tissue or implant "
            "covers: PixelRepresentation, BitsStored or the rescale does not fit the data"
        )
    return None
