"""Synthetic anatomical phantoms with known calcinosis deposits (`calcscan phantom`).

How a study is made (generate.py):

1. layout.py: a seed decides body size, habitus, fat and organ positions; key points of
   the skeleton and organs follow (body frame: LPS axes, origin on the midline, on the
   table top, at the femoral heads).
2. anatomy.py with soft.py, organs.py, vessels.py, tendons.py, head.py, skeleton.py:
   the body as an ordered list of paint operations on implicit shapes (sdf.py, scene.py).
3. sizes.py: the CT grid (matrix, pixel and slice spacing, scanner position) for the size.
4. scene.render: the tissue label map (labels.py) on that grid.
5. scenarios.py, sites.py, placement.py, deposits.py: the scenario's deposits, snowball
   clumps of ellipsoids placed at documented sites and checked against the label map.
6. ct.py (and metal.py): HU, partial volume, scanner blur, streaks, noise.
7. radiograph.py: a PA hand radiograph from the same anatomy, for scenarios that ask.
8. truth.py: truth.json and truth_labels.nii.gz; pipeline.dicom.write writes the DICOM.

`make_phantom(scenario, seed, size)` builds a study in memory, `write(phantom, folder)`
writes it.
"""

from pipeline.phantom.generate import Phantom, make_phantom, write
from pipeline.phantom.scenarios import SCENARIOS
from pipeline.phantom.sizes import SIZES

__all__ = ["SCENARIOS", "SIZES", "Phantom", "make_phantom", "write"]
