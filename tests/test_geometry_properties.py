"""Property tests of the slice planner on header objects (no files): whatever the orientation,
spacing, tilt or file order, the plan puts every slice back where its header says it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import LoaderConfig
from pipeline.geometry import plan_stack, sort_along_normal
from pipeline.models import FrameHeader, InstanceHeader, SliceRef

CFG = LoaderConfig()


def _rotation(a: float, b: float, c: float) -> np.ndarray:
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rz = np.array([[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _slices(affine: np.ndarray, n: int, order: list[int]) -> list[SliceRef]:
    row = affine[:3, 0] / np.linalg.norm(affine[:3, 0])
    col = affine[:3, 1] / np.linalg.norm(affine[:3, 1])
    spacing = (float(np.linalg.norm(affine[:3, 1])), float(np.linalg.norm(affine[:3, 0])))
    refs = []
    for k in order:
        position = tuple(float(v) for v in affine[:3, :3] @ [0, 0, k] + affine[:3, 3])
        frame = FrameHeader(0, position, (*row, *col), spacing, 1.0)  # type: ignore[arg-type]
        inst = InstanceHeader(
            path=Path(f"/x/{k}"),
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            sop_instance_uid=f"1.{k}",
            transfer_syntax_uid=None,
            modality="CT",
            patient_id=None,
            study_uid="1",
            study_date=None,
            accession_number=None,
            study_description=None,
            series_uid="2",
            series_number=1,
            series_description=None,
            frame_of_reference_uid="3",
            instance_number=k,
            acquisition_number=1,
            image_type=(),
            rows=8,
            columns=8,
            samples_per_pixel=1,
            number_of_frames=1,
            has_pixel_data=True,
            body_part_examined=None,
            view_position=None,
            laterality=None,
            kvp=None,
            contrast_agent=None,
            frames=(frame,),
        )
        refs.append(SliceRef(inst, frame))
    return refs


@settings(max_examples=150, deadline=None)
@given(
    angles=st.tuples(*[st.floats(-np.pi, np.pi)] * 3),
    spacing=st.tuples(st.floats(0.2, 2.0), st.floats(0.2, 2.0), st.floats(0.5, 6.0)),
    tilt=st.floats(-0.5, 0.5),
    n=st.integers(2, 30),
    origin=st.tuples(*[st.floats(-500, 500)] * 3),
    seed=st.integers(0, 2**31),
)
def test_plan_reproduces_every_slice_position(angles, spacing, tilt, n, origin, seed):
    affine = np.eye(4)
    rot = _rotation(*angles)
    affine[:3, 0] = rot[:, 0] * spacing[0]
    affine[:3, 1] = rot[:, 1] * spacing[1]
    affine[:3, 2] = (rot[:, 2] + tilt * rot[:, 1]) * spacing[2]  # optional shear (gantry tilt)
    affine[:3, 3] = origin
    order = list(np.random.default_rng(seed).permutation(n))
    ordered = sort_along_normal(_slices(affine, n, order))
    plan = plan_stack(ordered, CFG)
    assert plan.n_output == n and not plan.interpolated
    assert all(w == (1.0,) for w in plan.weights)
    normal = np.cross(rot[:, 0], rot[:, 1])
    offsets = [np.dot(s.frame.position, normal) for s in plan.slices]
    assert np.all(np.diff(offsets) > 0)  # sorted along the normal
    for k, s in enumerate(plan.slices):
        np.testing.assert_allclose(
            plan.affine[:3, :3] @ [0, 0, k] + plan.affine[:3, 3], s.frame.position, atol=1e-6
        )
    np.testing.assert_allclose(plan.affine[:3, :2], affine[:3, :2], atol=1e-9)
    assert abs(plan.tilt_deg - np.degrees(np.arctan(abs(tilt)))) < 1e-6
