"""The scenarios a phantom study can show, and the deposits each one asks for.

Each scenario states the calcinosis pattern it is meant to show (None for the negative
controls) and draws its list of deposits from the seed: which documented sites, which
sides, sizes and lobe counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.phantom.bodypart import PartBuilder
from pipeline.phantom.chest_arterial import build_arterial_chest
from pipeline.phantom.extremities import build_hands_feet
from pipeline.phantom.head_neck import build_head_neck
from pipeline.phantom.placement import DepositPlan

Planner = Callable[[np.random.Generator], list[DepositPlan]]


@dataclass(frozen=True)
class Scenario:
    name: str
    pattern: str | None  # metastatic | tumoral | dystrophic | calcific_tendinitis | None
    description: str
    planner: Planner
    head: bool = False  # scan from the vertex (brain, eyes) instead of from the shoulders
    contrast: bool = False
    metal: bool = False  # a metal hip prosthesis
    hand_radiograph: bool = False  # also a PA radiograph of one hand and wrist
    body_part: str = "CHESTABDPELVIS"
    part: PartBuilder | None = None  # a body-part scan built by its own module (bodypart.py)


def _side(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


def tumoral(rng: np.random.Generator) -> list[DepositPlan]:
    """Large multi-lobulated periarticular masses (hips first), no organ involved."""
    masses = {
        "hip_periarticular": ((8000, 45000), (6, 13)),
        "shoulder_periarticular": ((5000, 30000), (5, 11)),
        "elbow_periarticular": ((1500, 9000), (4, 8)),
        "hand_periarticular": ((250, 1500), (3, 6)),
        "chest_wall": ((2500, 15000), (4, 9)),
    }
    others = ["shoulder_periarticular", "elbow_periarticular", "hand_periarticular", "chest_wall"]
    chosen = [("hip_periarticular", _side(rng))]
    if rng.random() < 0.5:
        chosen.append(("hip_periarticular", -chosen[0][1]))
    for name in rng.choice(others, size=int(rng.integers(2, 4)), replace=False):
        chosen.append((str(name), _side(rng)))
    plans = [DepositPlan(site, side, *masses[site], density=(450, 1000)) for site, side in chosen]
    # satellite nodules beside a mass: tumoral calcinosis is rarely a single clump
    for site, side in chosen[: int(rng.integers(1, 3))]:
        plans.append(DepositPlan(site, side, (15, 250), (1, 3), density=(400, 900)))
    return plans


def metastatic(rng: np.random.Generator) -> list[DepositPlan]:
    """Hypercalcaemic deposits in organs, vessel walls, periarticular and subcutaneous
    tissue: kidney, stomach, lung, brain, eye, aorta, joints, skin."""
    plans: list[DepositPlan] = []
    for side in (1, -1):
        for _ in range(int(rng.integers(1, 3))):
            plans.append(DepositPlan("kidney", side, (6, 60), (1, 2)))
    plans += [DepositPlan("stomach", 1, (10, 60), (1, 2)) for _ in range(int(rng.integers(1, 3)))]
    plans += [DepositPlan("lung", _side(rng), (12, 220), (1, 3)) for _ in range(int(rng.integers(2, 4)))]
    plans += [DepositPlan("brain", _side(rng), (12, 150), (1, 3)) for _ in range(int(rng.integers(1, 3)))]
    plans.append(DepositPlan("eye", _side(rng), (4, 20), (1, 1)))
    plans += [
        DepositPlan("aortic_wall", 1, (8, 60), (1, 2), density=(400, 900))
        for _ in range(int(rng.integers(2, 4)))
    ]
    joint = str(rng.choice(["hip_periarticular", "shoulder_periarticular"]))
    plans.append(DepositPlan(joint, _side(rng), (150, 2500), (2, 5)))
    sub = str(rng.choice(["subcutaneous_abdomen", "subcutaneous_thigh"]))
    plans.append(DepositPlan(sub, _side(rng), (10, 120), (1, 2)))
    return plans


def dystrophic(rng: np.random.Generator) -> list[DepositPlan]:
    """Small calcinosis cutis of fingertips, forearms and elbows; most on one side (the
    radiographed hand is side +1's mirror image chosen by the generator)."""
    main = _side(rng)
    plans = [DepositPlan("finger_pulp", main, (3, 60), (1, 3)) for _ in range(int(rng.integers(3, 5)))]
    plans += [
        DepositPlan("forearm_subcutaneous", main, (10, 150), (1, 3)) for _ in range(int(rng.integers(1, 3)))
    ]
    plans.append(DepositPlan("hand_dorsum_subcutaneous", main, (5, 60), (1, 2)))
    plans.append(DepositPlan("finger_pulp", -main, (3, 60), (1, 2)))
    plans.append(
        DepositPlan(str(rng.choice(["forearm_subcutaneous", "elbow_subcutaneous"])), -main, (10, 150), (1, 3))
    )
    return plans


def calcific_tendinitis(rng: np.random.Generator) -> list[DepositPlan]:
    """Deposits in the supraspinatus insertion (one or both shoulders), sometimes also in
    the gluteus medius insertion at the greater trochanter."""
    side = _side(rng)
    plans = [DepositPlan("supraspinatus_insertion", side, (40, 500), (1, 3))]
    if rng.random() < 0.5:
        plans.append(DepositPlan("supraspinatus_insertion", -side, (20, 250), (1, 2)))
    if rng.random() < 0.6:
        plans.append(DepositPlan("gluteus_medius_insertion", _side(rng), (30, 400), (1, 2)))
    return plans


def none(rng: np.random.Generator) -> list[DepositPlan]:
    return []


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "tumoral",
            "tumoral",
            "large multi-lobulated periarticular masses (hips, shoulders, elbows, hands, chest wall); "
            "no organ involved",
            tumoral,
        ),
        Scenario(
            "metastatic",
            "metastatic",
            "deposits in kidneys, stomach wall, lungs, brain, eye, aortic wall, one joint and the skin; "
            "head included",
            metastatic,
            head=True,
            body_part="WHOLEBODY",
        ),
        Scenario(
            "dystrophic",
            "dystrophic",
            "small subcutaneous deposits of fingertips, hand, forearms and elbow; with a PA hand radiograph",
            dystrophic,
            hand_radiograph=True,
        ),
        Scenario(
            "calcific_tendinitis",
            "calcific_tendinitis",
            "deposits at the supraspinatus insertion on the greater tuberosity and at the gluteus medius "
            "insertion on the greater trochanter",
            calcific_tendinitis,
        ),
        Scenario("healthy", None, "negative control: healthy anatomy, no deposit", none),
        Scenario(
            "contrast",
            None,
            "negative control: contrast-enhanced arteries (250-400 HU), veins and kidneys, no deposit",
            none,
            contrast=True,
        ),
        Scenario(
            "metal",
            None,
            "negative control: metal hip prosthesis (> 3000 HU) with streak artefacts, no deposit",
            none,
            metal=True,
        ),
        Scenario(
            "head_neck",
            "metastatic",
            "vertex to lower neck: skull, skull base, face, teeth, cervical spine, larynx; physiologic "
            "intracranial and laryngeal cartilage calcifications (listed apart as incidental); deposits "
            "in the scalp and the neck's fat and muscle",
            none,
            head=True,
            body_part="HEADNECK",
            part=build_head_neck,
        ),
        Scenario(
            "arterial_chest",
            "metastatic",
            "chest CT in the arterial phase without a contrast tag: opacified aorta and heart, coronary "
            "and aortic wall calcification, sternal wires, calcified costal cartilage (incidental), "
            "chest wall deposits, one against a rib",
            none,
            body_part="CHEST",
            part=build_arterial_chest,
        ),
        Scenario(
            "hands_feet",
            "dystrophic",
            "both hands (even seeds) or both feet (odd seeds) on a fine grid: digit pulp, subcutaneous "
            "and periarticular deposits touching a joint",
            none,
            body_part="HAND",
            part=build_hands_feet,
        ),
    ]
}
