"""The detector on the body-part phantoms (head and neck, arterial-phase chest, feet), run
as written DICOM through the whole analysis: what a reader must not see reported (skull,
teeth, small bones, opacified lumen, physiologic calcification) and what must be said
(contrast measured on the image with no tag, body parts from the image)."""

from __future__ import annotations

from tests.phantom_anatomy import scored


def test_head_and_neck_report_no_bone_teeth_or_physiologic_calcification():
    score = scored("head_neck")
    assert score.false == {}, score.false  # no skull vault, skull base, face, teeth or spine
    assert score.incidental_as_deposit == []
    physiologic = {"pineal_gland", "falx", "choroid_plexus_left", "choroid_plexus_right"}
    assert {k for k, v in score.incidental_kinds.items() if v == "intracranial_physiologic"} == physiologic
    assert score.body_parts[:2] == ["head", "neck"]
    assert score.contrast is not None and score.contrast["present"] is False
    assert "D4 neck_muscle" in score.found


def test_arterial_chest_contrast_is_measured_without_a_tag():
    score = scored("arterial_chest")
    contrast = score.contrast
    assert contrast["present"] and contrast["source"] == "image" and contrast["phase"] == "arterial"
    assert 300 <= contrast["blood_pool_hu"] <= 500  # the phantom's pool is 360-470 HU
    assert "chest" in score.body_parts
    # the opacified heart, aorta, pulmonary and arm arteries are not deposits (one partial-volume
    # spot remains on this 5 mm grid; the shoulder arteries were two before the local lumen level)
    assert sum(score.false.values()) <= 1, score.false


def test_feet_report_no_small_bone_and_are_called_feet():
    score = scored("hands_feet")
    assert score.false == {}, score.false  # phalanges, sesamoids, tarsals
    assert score.body_parts == ["foot"]
    assert len(score.found) >= 3, score.missed
