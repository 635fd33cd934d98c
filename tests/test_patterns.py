"""Calcinosis-type pattern rules: ranking on phantom ground truth, robustness, clinical
context, and clear errors for malformed rules and clinical files."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
import yaml

from pipeline.clinical import ClinicalContext, ClinicalError, load_clinical, parse_injection_site
from pipeline.config import Config, PatternsConfig
from pipeline.errors import ConfigError
from pipeline.models import Deposit, StudyResult
from pipeline.models import Study as DicomStudy
from pipeline.phantom.generate import make_phantom
from pipeline.report.patterns import evaluate_patterns, load_rules, rank_deposits
from pipeline.report.rules import RulesError, shipped_rules_path
from pipeline.vocab import PATTERN_TYPES
from tests.conftest import REPO

SCENARIOS = ["tumoral", "metastatic", "dystrophic", "calcific_tendinitis"]
CONTROLS = ["healthy", "metal", "contrast"]
SEEDS = range(10)
RULES_FILE = REPO / "configs" / "site_patterns.yaml"


def deposit(
    id: str, region: str, tissue: str, laterality: str = "right", volume: float = 100.0, lobes: int = 1
) -> Deposit:
    """A measured deposit as the site mapping hands it to the pattern rules."""
    return Deposit(
        label=int(id[1:]) if id[1:].isdigit() else 0,
        series_uid="1.2.3",
        stack_label="1.2.3#1",
        n_voxels=max(1, round(volume)),
        volume_mm3=volume,
        max_hu=800.0,
        mean_hu=450.0,
        agatston=0.0,
        mass_mg=None,
        equivalent_diameter_mm=(6 * volume / math.pi) ** (1 / 3),
        largest_axial_area_mm2=0.0,
        centroid_ijk=(0.0, 0.0, 0.0),
        centroid_lps_mm=(0.0, 0.0, 0.0),
        bbox_ijk=((0, 0, 0), (1, 1, 1)),
        lobes=lobes,
        id=id,
        region=region,
        laterality=laterality,
        tissue=tissue,
    )


@cache
def phantom_deposits(scenario: str, seed: int) -> tuple[Deposit, ...]:
    """The phantom's ground truth as deposits (no segmentation needed)."""
    ph = make_phantom(scenario, seed, "small")
    vox = ph.grid.voxel_volume
    return tuple(
        deposit(d.id, d.site.region, d.site.tissue, d.laterality, d.dm.n_voxels * vox, d.lobes)
        for d in ph.deposits
    )


def truth_deposits(truth: dict) -> list[Deposit]:
    return [
        deposit(d["id"], d["region"], d["tissue"], d["laterality"], d["volume_mm3"], d["lobes"])
        for d in truth["deposits"]
    ]


def perturbed(deps: tuple[Deposit, ...]) -> list[Deposit]:
    """What a detector might deliver: misses under 30 mm3, one small false positive at an
    unknown site."""
    kept = [d for d in deps if d.volume_mm3 >= 30]
    return [*kept, deposit("D99", "unknown", "unknown", "unknown", volume=12.0)]


def ranking(deps: list[Deposit], clinical: ClinicalContext | None = None) -> list[str]:
    return [p.type for p in rank_deposits(list(deps), load_rules(), clinical)]


def by_type(results: list) -> dict:
    return {p.type: p for p in results}


# --- phantom ground truth -------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_phantom_scenarios_rank_intended_pattern_first(scenario: str):
    firsts = [ranking(list(phantom_deposits(scenario, s)))[0] for s in SEEDS]
    hits = firsts.count(scenario)
    assert hits >= 0.9 * len(SEEDS), f"{scenario}: first in {hits}/{len(SEEDS)}: {firsts}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_ranking_survives_missed_small_deposits_and_a_false_positive(scenario: str):
    firsts = [ranking(perturbed(phantom_deposits(scenario, s)))[0] for s in SEEDS]
    hits = firsts.count(scenario)
    assert hits >= 0.9 * len(SEEDS), f"{scenario}: first in {hits}/{len(SEEDS)}: {firsts}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_intended_pattern_is_consistent_and_cites_its_deposits(scenario: str):
    deps = list(phantom_deposits(scenario, 0))
    best = rank_deposits(deps, load_rules())[0]
    assert (best.type, best.verdict) == (scenario, "consistent")
    assert set(best.evidence) <= {d.id for d in deps} and best.evidence
    assert all(isinstance(r, str) and r for r in best.reasons)


@pytest.mark.parametrize("scenario", CONTROLS)
def test_negative_controls_have_every_pattern_unlikely(scenario: str):
    deps = list(phantom_deposits(scenario, 0))
    assert deps == []
    results = rank_deposits(deps, load_rules())
    assert [p.type for p in results] == list(PATTERN_TYPES)
    for p in results:
        assert (p.verdict, p.score, p.evidence, p.reasons) == ("unlikely", 0.0, [], ["no deposits found"])


def test_sample_data_truth_ranks_intended_pattern_first():
    truths = sorted((REPO / "sample_data").glob("*/truth.json"))
    assert truths
    for path in truths:
        truth = json.loads(path.read_text())
        results = rank_deposits(truth_deposits(truth), load_rules())
        if truth["pattern"] is None:
            assert all(p.verdict == "unlikely" and p.score == 0 for p in results), path
        else:
            assert results[0].type == truth["pattern"], (path, [(p.type, p.score) for p in results])
            assert results[0].verdict == "consistent", path


def test_reasons_name_sites_sizes_and_ids():
    truth = json.loads((REPO / "sample_data" / "metastatic" / "truth.json").read_text())
    meta = by_type(rank_deposits(truth_deposits(truth), load_rules()))["metastatic"]
    kidneys = [d["id"] for d in truth["deposits"] if d["tissue"] == "kidney"]
    assert any(f"both kidneys ({', '.join(kidneys)})" in r for r in meta.reasons), meta.reasons
    assert any(r.startswith("organ involvement") for r in meta.reasons)
    hip = deposit("D1", "hip", "periarticular", "right", volume=38000, lobes=9)
    tum = by_type(rank_deposits([hip], load_rules()))["tumoral"]
    assert any("(38 cm3, 9 lobes) periarticular at the right hip (D1)" in r for r in tum.reasons), tum.reasons
    assert "no internal organ involved" in tum.reasons


# --- specific rules ---------------------------------------------------------------------


def test_single_shoulder_tendon_deposit_is_tendinitis_not_tumoral():
    order = ranking([deposit("D1", "shoulder", "tendon", "left", volume=180, lobes=1)])
    assert order[0] == "calcific_tendinitis"
    assert order.index("tumoral") > 0


def test_large_multilobulated_hip_mass_is_tumoral_not_tendinitis():
    mass = deposit("D1", "hip", "periarticular", "right", volume=30000, lobes=8)
    results = by_type(rank_deposits([mass], load_rules()))
    assert ranking([mass])[0] == "tumoral"
    assert results["calcific_tendinitis"].verdict == "unlikely"
    # even when the mapping calls it a tendon deposit
    assert ranking([replace(mass, tissue="tendon")])[0] == "tumoral"


def test_organ_deposits_make_tumoral_and_dystrophic_less_likely():
    skin = [deposit(f"D{i}", "hand", "skin_subcutaneous", volume=60) for i in range(1, 5)]
    organs = [deposit(f"D{i}", "abdomen", "kidney", volume=60) for i in range(5, 9)]
    alone, mixed = (
        by_type(rank_deposits(skin, load_rules())),
        by_type(rank_deposits(skin + organs, load_rules())),
    )
    assert mixed["dystrophic"].score < alone["dystrophic"].score
    assert mixed["metastatic"].score > alone["metastatic"].score
    assert any("internal organs" in r for r in mixed["dystrophic"].reasons)


def test_one_tiny_unknown_speck_or_lone_kidney_stone_does_not_flip_the_ranking():
    for scenario in SCENARIOS:
        deps = list(phantom_deposits(scenario, 1))
        base = ranking(deps)[0]
        assert ranking([*deps, deposit("D90", "unknown", "unknown", "unknown", volume=8)])[0] == base
        assert ranking([*deps, deposit("D90", "hip", "unknown", "left", volume=15)])[0] == base
        assert ranking([*deps, deposit("D90", "abdomen", "kidney", "left", volume=20)])[0] == base


def test_only_unscored_deposits_give_every_type_unlikely():
    results = rank_deposits([deposit("D1", "unknown", "unknown", volume=50)], load_rules())
    assert all(p.verdict == "unlikely" and p.score == 0 for p in results)
    assert "at an unknown site not scored (D1)" in results[0].reasons[1]


def test_all_four_types_listed_sorted_with_deterministic_ties():
    deps = list(phantom_deposits("dystrophic", 2))
    first, again = rank_deposits(deps, load_rules()), rank_deposits(list(reversed(deps)), load_rules())
    assert sorted(p.type for p in first) == sorted(PATTERN_TYPES)
    assert [p.score for p in first] == sorted((p.score for p in first), reverse=True)
    assert [(p.type, p.score, p.evidence) for p in first] == [(p.type, p.score, p.evidence) for p in again]
    assert all(0 <= p.score <= 1 for p in first)
    # equal scores keep the contract's order of the types
    ties = rank_deposits([deposit("D1", "unknown", "unknown")], load_rules())
    assert [p.type for p in ties] == list(PATTERN_TYPES)


def _study_result(deps: list[Deposit]) -> StudyResult:
    study = DicomStudy(
        uid="1.2.3", patient_id="P1", date=None, accession_number="A1", description=None, series=[]
    )
    return StudyResult(study=study, series=[], deposits=deps)


def test_evaluate_patterns_api_with_and_without_clinical_context():
    result = _study_result(list(phantom_deposits("tumoral", 0)))
    plain = evaluate_patterns(result, Config())
    ctx = ClinicalContext(source="test", serum_calcium_mg_dl=9.6, serum_phosphate_mg_dl=6.8)
    with_ctx = evaluate_patterns(result, Config(), ctx)
    assert plain[0].type == with_ctx[0].type == "tumoral"
    assert not any("clinical context" in r for p in plain for r in p.reasons)
    assert any("supports tumoral calcinosis" in r for r in with_ctx[0].reasons)
    assert evaluate_patterns(_study_result([]), Config())[0].reasons == ["no deposits found"]


def test_rules_file_in_config_selects_another_rules_file(tmp_path: Path):
    data = yaml.safe_load(RULES_FILE.read_text())
    data["verdicts"] = {"consistent": 0.99, "possible": 0.98}
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(data))
    deps = [deposit("D1", "shoulder", "periarticular", "left", volume=900, lobes=2)]
    shipped = evaluate_patterns(_study_result(deps), Config())
    strict = evaluate_patterns(_study_result(deps), Config(patterns=PatternsConfig(rules_file=path)))
    assert 0 < shipped[0].score < 0.98 and shipped[0].verdict != "unlikely"
    assert strict[0].verdict == "unlikely" and strict[0].score == shipped[0].score


def test_shipped_rules_are_the_repository_file_and_package_copy():
    assert shipped_rules_path().resolve() == RULES_FILE.resolve()
    packaged = REPO / "pipeline" / "report" / "site_patterns.yaml"
    assert packaged.read_text() == RULES_FILE.read_text(), "the package copy must mirror configs/"
    assert load_rules() == load_rules(RULES_FILE)


# --- clinical context --------------------------------------------------------------------

# periarticular deposits only: documented for metastatic, tumoral, dystrophic and tendinitis
AMBIGUOUS = [
    deposit("D1", "hip", "periarticular", "right", volume=300, lobes=2),
    deposit("D2", "elbow", "periarticular", "left", volume=250, lobes=2),
]


def test_renal_disease_and_high_calcium_phosphate_product_raise_metastatic():
    base = by_type(rank_deposits(AMBIGUOUS, load_rules()))
    ctx = ClinicalContext(
        source="test", serum_calcium_mg_dl=10.4, serum_phosphate_mg_dl=7.5, renal_disease="dialysis"
    )
    results = rank_deposits(AMBIGUOUS, load_rules(), ctx)
    meta = by_type(results)["metastatic"]
    assert meta.score > base["metastatic"].score
    assert results[0].type == "metastatic" and meta.verdict == "consistent"
    assert (
        "clinical context: serum calcium x phosphate product 78 mg2/dL2 (> 70) "
        "supports metastatic calcification" in meta.reasons
    )
    assert any("renal disease (dialysis) supports metastatic" in r for r in meta.reasons)


def test_scleroderma_raises_dystrophic():
    base = by_type(rank_deposits(AMBIGUOUS, load_rules()))
    ctx = ClinicalContext(source="test", connective_tissue_disease="scleroderma")
    results = rank_deposits(AMBIGUOUS, load_rules(), ctx)
    dys = by_type(results)["dystrophic"]
    assert dys.score > base["dystrophic"].score
    assert results[0].type == "dystrophic"
    assert "clinical context: scleroderma supports dystrophic calcification" in dys.reasons


def test_high_phosphate_with_normal_calcium_supports_tumoral_and_notes_are_quoted():
    ctx = ClinicalContext(
        source="test", serum_calcium_mg_dl=9.4, serum_phosphate_mg_dl=6.9, notes="sibling affected"
    )
    results = rank_deposits(AMBIGUOUS, load_rules(), ctx)
    tum = by_type(results)["tumoral"]
    assert tum.score > by_type(rank_deposits(AMBIGUOUS, load_rules()))["tumoral"].score
    assert any("high serum phosphate 6.9 mg/dL" in r and "supports tumoral" in r for r in tum.reasons)
    assert "clinical notes (not scored): sibling affected" in results[0].reasons


def test_prior_injection_site_supports_dystrophic_at_that_site_only():
    ctx = ClinicalContext(source="test", prior_injection_sites=(parse_injection_site("right hip"),))
    dys = by_type(rank_deposits(AMBIGUOUS, load_rules(), ctx))["dystrophic"]
    assert any("prior injection site (right hip) (D1)" in r for r in dys.reasons)
    other = ClinicalContext(source="test", prior_injection_sites=(parse_injection_site("left knee"),))
    assert rank_deposits(AMBIGUOUS, load_rules(), other) == rank_deposits(AMBIGUOUS, load_rules())


def test_clinical_context_cannot_make_a_pattern_without_deposits_at_its_sites():
    organs = [deposit("D1", "abdomen", "kidney", volume=50), deposit("D2", "chest", "lung", volume=50)]
    ctx = ClinicalContext(source="test", connective_tissue_disease="yes")
    dys = by_type(rank_deposits(organs, load_rules(), ctx))["dystrophic"]
    assert dys.score == 0 and not any("clinical" in r for r in dys.reasons)
    empty = rank_deposits([], load_rules(), ClinicalContext(source="t", renal_disease="ckd"))
    assert all(p.score == 0 and p.verdict == "unlikely" for p in empty)


def test_load_clinical_yaml_and_csv_find_studies_by_any_key(tmp_path: Path):
    yml = tmp_path / "clinical.yaml"
    yml.write_text(
        "- study_instance_uid: 1.2.3\n  serum_calcium_mg_dl: 10.9\n  serum_phosphate_mg_dl: 7.4\n"
        "  renal_disease: true\n  prior_injection_sites: [right shoulder, left hip]\n"
        "- accession_number: ACC9\n  connective_tissue_disease: dermatomyositis\n"
        "- patient_id: P7\n  parathyroid_disease: no\n  notes: follow-up\n"
    )
    index = load_clinical(yml)
    ctx = index.lookup("1.2.3")
    assert ctx is not None and ctx.renal_disease == "yes"
    assert ctx.calcium_phosphate_product == pytest.approx(80.66)
    assert [(s.laterality, s.region) for s in ctx.prior_injection_sites] == [
        ("right", "shoulder"),
        ("left", "hip"),
    ]
    assert index.lookup("9.9", "ACC9").connective_tissue_disease == "dermatomyositis"
    assert index.lookup("9.9", None, "P7").parathyroid_disease is None
    assert index.lookup("9.9", "nope", "nobody") is None

    csv_path = tmp_path / "clinical.csv"
    csv_path.write_text(
        "study_instance_uid,serum_calcium_mg_dl,serum_phosphate_mg_dl,renal_disease,prior_injection_sites\n"
        "1.2.3,9.5,3.1,no,right shoulder; left knee\n"
        "4.5.6,,,dialysis,\n"
    )
    rows = load_clinical(csv_path)
    assert len(rows) == 2
    assert rows.lookup("1.2.3").renal_disease is None
    assert len(rows.lookup("1.2.3").prior_injection_sites) == 2
    assert (
        rows.lookup("4.5.6").renal_disease == "dialysis" and rows.lookup("4.5.6").serum_calcium_mg_dl is None
    )

    keyed = tmp_path / "keyed.yaml"
    keyed.write_text("ACC1:\n  renal_disease: ckd\n")
    assert load_clinical(keyed).lookup("1.9", "ACC1").renal_disease == "ckd"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "c.csv",
            "study_instance_uid,serum_calcium_mg_dl\n1.2,9.1\n1.3,high\n",
            ["c.csv line 3", "serum_calcium_mg_dl", "'high' is not a number"],
        ),
        ("c.csv", "study_instance_uid,calcium\n1.2,9.1\n", ["c.csv", "unknown column(s) 'calcium'"]),
        ("c.yaml", "- study_instance_uid: 1.2\n  renal: yes\n", ["c.yaml [0]", "renal: unknown field"]),
        (
            "c.yaml",
            "- study_instance_uid: 1.2\n  renal_disease: maybe\n",
            ["[0]", "renal_disease", "'maybe'"],
        ),
        (
            "c.yaml",
            "- patient_id: P1\n  prior_injection_sites: [right sholder]\n",
            ["prior_injection_sites", "'right sholder'"],
        ),
        ("c.yaml", "- notes: no key\n", ["[0]", "needs at least one of study_instance_uid"]),
        ("c.yaml", "- study_instance_uid: 1.2\n- study_instance_uid: 1.2\n", ["[1]", "also given at", "[0]"]),
        ("c.yaml", "- study_instance_uid: [1.2\n", ["c.yaml", "not valid YAML"]),
        (
            "c.yaml",
            "- serum_phosphate_mg_dl: 45\n  patient_id: P\n",
            ["serum_phosphate_mg_dl", "less than 30"],
        ),
    ],
)
def test_malformed_clinical_file_is_a_clear_error(tmp_path: Path, name: str, text: str, expected: list[str]):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ClinicalError) as err:
        load_clinical(path)
    assert isinstance(err.value, ConfigError)
    for part in expected:
        assert part in str(err.value), str(err.value)


# --- malformed rules ---------------------------------------------------------------------


def _edited(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(RULES_FILE.read_text())
    edit(data)
    path = tmp_path / "site_patterns.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _rules_error(path: Path) -> str:
    with pytest.raises(RulesError) as err:
        load_rules(path)
    assert isinstance(err.value, ConfigError)
    message = str(err.value)
    assert str(path) in message or path.name in message, message
    return message


def test_unknown_tissue_name_is_named_with_its_yaml_path(tmp_path: Path):
    text = RULES_FILE.read_text().replace(
        "tissue: [muscle, skin_subcutaneous]", "tissue: [muscel, skin_subcutaneous]"
    )
    path = tmp_path / "site_patterns.yaml"
    path.write_text(text)
    message = _rules_error(path)
    assert "tumoral.sites[1].tissue: 'muscel' is not a tissue (known: any, skin_subcutaneous" in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.pop("dystrophic"), "dystrophic: missing (required)"),
        (lambda d: d["metastatic"].update(colour="red"), "metastatic.colour: unknown key"),
        (
            lambda d: d["tumoral"]["features"]["masses"].update(large_from_cm3="big"),
            "tumoral.features.masses.large_from_cm3: 'big' is not a number",
        ),
        (
            lambda d: d["calcific_tendinitis"]["sites"][0].update(region="sholder"),
            "calcific_tendinitis.sites[0].region: 'sholder' is not a region",
        ),
        (
            lambda d: d.update(verdicts={"consistent": 0.3, "possible": 0.5}),
            "verdicts: possible must be below consistent",
        ),
        (
            lambda d: d["clinical"]["effects"].update(renal_disease={"metastatc": 2}),
            "clinical.effects.renal_disease: 'metastatc' is not a pattern type",
        ),
        (
            lambda d: d["tumoral"]["exclusions"][0].update(per_deposit=-1),
            "tumoral.exclusions[0].per_deposit: Input should be greater than 0",
        ),
    ],
)
def test_malformed_rules_are_a_clear_error(tmp_path: Path, edit, expected: str):
    assert expected in _rules_error(_edited(tmp_path, edit))


def test_rules_that_are_not_yaml_or_missing_are_a_clear_error(tmp_path: Path):
    path = tmp_path / "site_patterns.yaml"
    path.write_text("metastatic: [unclosed\n")
    assert "not valid YAML" in _rules_error(path)
    path.write_text("- just a list\n")
    assert "must hold a mapping" in _rules_error(path)
    missing = tmp_path / "nowhere.yaml"
    assert "cannot read" in _rules_error(missing)
