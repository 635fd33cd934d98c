"""Head and neck (drawn for scenarios that need brain and eyes): skull with diploe, brain
with ventricles, eyes with lenses in fat-filled orbits, facial bones and airway."""

from __future__ import annotations

from pipeline.phantom.labels import T
from pipeline.phantom.layout import Layout
from pipeline.phantom.scene import Bone, Fill, Op
from pipeline.phantom.sdf import Capsule, Ellipsoid, Offset, Sphere, Subtract, Union, chain, vec
from pipeline.phantom.soft import head_outline


def eye_centres(lay: Layout) -> dict[str, object]:
    s = lay.s
    return {side: vec([sg * 31, -176, 742]) * s for side, sg in (("left", 1), ("right", -1))}


def brain_shape(lay: Layout) -> Ellipsoid:
    head = head_outline(lay)
    return Ellipsoid(head.center + vec([0, 4, 4]) * lay.s, head.radii - vec([17, 18, 17]) * lay.s)


def head_ops(lay: Layout) -> list[Op]:
    if not lay.p.with_head:
        return []
    s = lay.s
    head = head_outline(lay)
    eyes = eye_centres(lay)
    outer = Offset(head, -5 * s)
    inner = Ellipsoid(head.center + vec([0, 4, 4]) * s, head.radii - vec([13, 14, 13]) * s)
    orbit_cut = Union(tuple(Sphere(c, 17 * s) for c in eyes.values()))  # type: ignore[arg-type]
    foramen = Capsule(vec([0, -92, 660]) * s, vec([0, -92, 730]) * s, 14 * s)
    skull = Subtract(Subtract(Subtract(outer, inner), orbit_cut), foramen)
    ops: list[Op] = [
        Fill(T.CSF, inner),
        Fill(T.BRAIN, brain_shape(lay)),
        Bone(skull, cortex_mm=2.0),
    ]
    for sg in (1, -1):
        ops.append(Fill(T.CSF, Ellipsoid(head.center + vec([sg * 10, 2, 12]) * s, vec([6, 24, 10]) * s)))
    for c in eyes.values():
        ops.append(
            Fill(
                T.VISCERAL_FAT,
                Sphere(c + vec([0, 6, 0]) * s, 16 * s),
                within=frozenset({T.MUSCLE, T.FAT, T.CSF, T.BRAIN}),
            )
        )
        ops.append(Fill(T.EYE, Sphere(c, 12 * s)))
        ops.append(Fill(T.LENS, Ellipsoid(c + vec([0, -9, 0]) * s, vec([4.5, 2, 4.5]) * s)))
    maxilla = Ellipsoid(vec([0, -166, 712]) * s, vec([30, 20, 15]) * s)
    mandible = Union(
        tuple(
            chain(
                [
                    vec([sg * 46, -112, 705]) * s,
                    vec([sg * 44, -140, 672]) * s,
                    vec([sg * 26, -178, 660]) * s,
                    vec([0, -188, 660]) * s,
                ],
                7 * s,
            )
            for sg in (1, -1)
        )
    )
    zygoma = Union(
        tuple(Capsule(vec([sg * 48, -162, 736]) * s, vec([sg * 62, -118, 734]) * s, 5 * s) for sg in (1, -1))
    )
    ops += [Bone(maxilla, cortex_mm=1.5), Bone(mandible, cortex_mm=2.0), Bone(zygoma, cortex_mm=1.5)]
    ops.append(Fill(T.AIRWAY, Ellipsoid(vec([0, -178, 726]) * s, vec([9, 18, 17]) * s)))
    ops.append(
        Fill(T.AIRWAY, Capsule(vec([0, -150, 700]) * s, lay.points["carina"] + vec([0, -22, 200]) * s, 8 * s))
    )
    return ops
