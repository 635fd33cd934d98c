"""Real anatomy on the shared real CTs (issue 18): bone, cartilage and contrast kept out,
the blood pool measured, body parts named from the image, scored against each scan's own
truth (TotalSegmentator labels, the chest's labelled foci, the inserted deposits)."""

from __future__ import annotations

import json

from tests.real_cases import segmented_abdomen
from tests.real_scoring import CHEST, CONTRAST, INSERTED, analysed, chest_score, contrast_score

SOFT_ORGANS = ("liver", "spleen", "stomach", "inferior_vena_cava")


def test_contrast_ct_bone_mask_stays_out_of_soft_tissue_organs():
    score = contrast_score(analysed(CONTRAST))
    for organ in SOFT_ORGANS:
        assert score.bone_share[organ] < 0.01, (organ, score.bone_share)
    # not yet under 1% (issue 18's note): part of the aortic wall calcification abuts the
    # vertebra at full resolution and stays in the skeleton (4.8%; 84% before); the portal
    # vein's share (3.4%; 94% before) lies on the slab's top slices
    assert score.bone_share["aorta"] < 0.05, score.bone_share
    assert score.bone_share["portal_vein_and_splenic_vein"] < 0.05, score.bone_share


def test_contrast_ct_contrast_and_body_part_come_from_the_image():
    score = contrast_score(analysed(CONTRAST))
    (coverage,) = score.coverage.values()
    assert coverage["contrast"]["present"] is True
    assert 120 <= coverage["contrast"]["blood_pool_hu"] <= 250  # the aorta label's median is 151 HU
    assert coverage["contrast"]["phase"] == "portal_venous"
    assert set(coverage["body_parts"]) & {"chest", "abdomen"}
    assert "pelvis" not in coverage["body_parts"] and "pelvis" not in score.regions


def test_contrast_ct_aortic_wall_calcification_is_a_deposit_and_the_lumen_is_not():
    score = contrast_score(analysed(CONTRAST))
    assert score.aortic_wall >= 1
    for place in ("liver", "stomach", "inferior_vena_cava", "aorta_lumen"):
        assert score.deposits_in.get(place, 0) == 0, score.deposits_in


def test_plain_abdomen_is_not_called_enhanced():
    seg, _, _ = segmented_abdomen()
    assert seg.coverage is not None and seg.coverage.contrast is not None
    assert seg.coverage.contrast.present is False


def test_chest_cartilage_is_incidental_not_a_deposit():
    score = chest_score(analysed(CHEST))
    assert score.kinds.get("cartilage", 0) == 0, score.kinds
    assert score.cartilage_incidental >= 5
    result = analysed(CHEST)
    assert {i.id for i in result.incidental}.isdisjoint({d.id for d in result.deposits})
    evidence = {e for p in result.patterns for e in p.evidence}
    assert not evidence & {i.id for i in result.incidental}


def test_chest_inserted_deposits_near_bone_are_found():
    truth = json.loads((INSERTED / "truth.json").read_text())
    score = chest_score(analysed(INSERTED), truth)
    # T8 lies 3.5 mm from a vertebra (the coarse skeleton took it before); T5 (9 mm3) and T6
    # (214 HU material) are the faint ones in fat. Still missed (issue 18's note): T1 against
    # the scapular cortex, T2 on a slice crossed by a necklace's streaks, T9/T10 (14-16 mm3
    # at 3 mm from bone).
    assert {"T3", "T4", "T5", "T6", "T7", "T8"} <= set(score.inserted_found), score.inserted_missed


def test_chest_is_not_ranked_as_calcinosis():
    """The chest CT has no calcinosis: no type is "consistent" (it was metastatic, on
    hilar nodes and cartilage), and what remains is mostly vessel walls and bone pieces."""
    score = chest_score(analysed(CHEST))
    assert score.consistent == [], score.consistent
    assert score.n_deposits <= 40, score.kinds  # 127 before
    assert score.kinds.get("other", 0) <= 15, score.kinds


def test_a_contrast_tag_without_a_pool_in_view_is_reported_as_the_headers_word():
    """A header naming a contrast agent on a scan where no opacified pool is seen (a head
    CTA, a limb, a plain scan mislabelled): analysed, and coverage says the header decided."""
    from dataclasses import replace

    from pipeline.segment import segment_ct

    seg, _, _ = segmented_abdomen()
    tagged = segment_ct(replace(seg.volume, contrast_agent="APPLIED"))
    contrast = tagged.coverage.contrast
    assert (contrast.present, contrast.source, contrast.blood_pool_hu) == (True, "header", None)
    assert any("no aorta or heart in view" in w for w in tagged.warnings)
    assert len(tagged.deposits) == len(seg.deposits)  # the plain threshold holds everywhere
