"""Grey-level path openings: what remains of an image when only long bright paths survive.

A path opening of length L keeps a pixel's value only as far as some path of L pixels
through it (in one of four 90-degree cones of directions, so gently curving paths count)
stays at least that bright. Cortices, bone edges and the rims of round bones are long
paths, whatever their curvature; a deposit is a compact bump that no long path can cross
without leaving it. The image minus its path opening (a top-hat) therefore keeps deposits,
including one lying on a cortex or a bone, and removes the bone.

Computed by dynamic programming (Talbot & Appleton's recursion for fixed L): for each cone,
F[k] is the brightest minimum over paths of k + 1 pixels ending at a pixel, B[k] the same
for paths starting there; the opening is the best split min(F[a], B[L - 1 - a]).
"""

from __future__ import annotations

import numpy as np

_NEG = np.float32(-np.inf)
# each cone: the three steps a path may take (row, col)
_CONES = (
    ((1, -1), (1, 0), (1, 1)),
    ((-1, 1), (0, 1), (1, 1)),
    ((-1, 0), (-1, 1), (0, 1)),
    ((-1, 0), (-1, -1), (0, -1)),
)


def _shifted(a: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """out[r, c] = a[r - dr, c - dc], -inf where that falls outside."""
    out = np.full_like(a, _NEG)
    rows, cols = a.shape
    out[max(dr, 0) : rows + min(dr, 0), max(dc, 0) : cols + min(dc, 0)] = a[
        max(-dr, 0) : rows - max(dr, 0), max(-dc, 0) : cols - max(dc, 0)
    ]
    return out


def _step(img: np.ndarray, prev: np.ndarray, steps: tuple[tuple[int, int], ...]) -> np.ndarray:
    """One more pixel on every path: the best predecessor, capped by the pixel itself."""
    best = _shifted(prev, *steps[0])
    for s in steps[1:]:
        np.maximum(best, _shifted(prev, *s), out=best)
    return np.minimum(img, best)


def path_openings(img: np.ndarray, lengths: list[int]) -> dict[int, np.ndarray]:
    """{L: path opening with paths of L pixels}, the maximum over the four cones."""
    img = np.asarray(img, dtype=np.float32)
    longest = max(lengths)
    out = {n: np.full(img.shape, _NEG) for n in lengths}
    for steps in _CONES:
        back = tuple((-dr, -dc) for dr, dc in steps)
        forward = [img]
        for _ in range(longest - 1):
            forward.append(_step(img, forward[-1], steps))
        backward = img
        for b in range(longest):  # backward = paths of b + 1 pixels starting here
            if b:
                backward = _step(img, backward, back)
            for n in lengths:
                a = n - 1 - b  # forward paths of a + 1 pixels: a + b + 1 = n in all
                if 0 <= a < n:
                    np.maximum(out[n], np.minimum(forward[a], backward), out=out[n])
    return out
