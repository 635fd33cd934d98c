"""Ranking of the documented site patterns of each calcinosis type for one study.

The rules (sites, size and shape features, exclusions, verdict cut-offs and the weight of
clinical context) live in configs/site_patterns.yaml so that a clinician can change them
without touching code; this module applies them and lists all four types, best first, as
the report contract requires.
"""

from __future__ import annotations

import math
from pathlib import Path

from pipeline.clinical import ClinicalContext
from pipeline.config import Config
from pipeline.models import Deposit, PatternResult, RadiographDeposit, StudyResult
from pipeline.report import clinical_effects
from pipeline.report import wording as w
from pipeline.report.rules import PatternRules, RulesError, Verdicts
from pipeline.report.rules import load_rules as _load_rules
from pipeline.report.scoring import Scored, Study, score_type, split_deposits
from pipeline.vocab import PATTERN_TYPES

__all__ = ["RulesError", "evaluate_patterns", "load_rules", "rank_deposits"]


def load_rules(path: Path | None = None) -> PatternRules:
    """The validated rules at `path` (None: the shipped configs/site_patterns.yaml)."""
    return _load_rules(path)


def evaluate_patterns(
    result: StudyResult, config: Config, clinical: ClinicalContext | None = None
) -> list[PatternResult]:
    """All four calcinosis types for a study's deposits, best match first.

    CT deposits when the study has an analysed CT (a film adds no site the CT lacks, and
    counting a deposit twice would weigh it twice); otherwise the radiographs' opacities,
    each taken as a sphere of its projected diameter, and the reasons say so."""
    rules = load_rules(config.patterns.rules_file)
    if result.segmentations or not result.radiograph_deposits:
        return rank_deposits(result.deposits, rules, clinical)
    ranked = rank_deposits([film_as_deposit(d) for d in result.radiograph_deposits], rules, clinical)
    for p in ranked:
        p.reasons.append(FROM_FILM)
    return ranked


FROM_FILM = "from radiograph opacities only: volumes estimated as spheres of the projected diameter"


def film_as_deposit(d: RadiographDeposit) -> Deposit:
    """A radiograph opacity as the rules see a deposit: its site, and a volume estimated from
    its projected diameter (a sphere; 0 when the spacing is unknown, so size rules stay silent)."""
    diameter = d.equivalent_diameter_mm or 0.0
    volume = math.pi / 6 * diameter**3
    return Deposit(
        label=d.label, series_uid=d.series_uid, stack_label=d.stack_label, n_voxels=d.area_px,
        volume_mm3=volume, max_hu=0.0, mean_hu=0.0, agatston=0.0, mass_mg=None,
        equivalent_diameter_mm=diameter, largest_axial_area_mm2=d.area_mm2 or 0.0,
        centroid_ijk=(d.centroid_px[1], d.centroid_px[0], 0.0), centroid_lps_mm=(0.0, 0.0, 0.0),
        bbox_ijk=((0, 0, 0), (1, 1, 1)), lobes=1, id=d.id, region=d.region, laterality=d.laterality,
        tissue=d.tissue, site_evidence=list(d.site_evidence),
    )  # fmt: skip


def rank_deposits(
    deposits: list[Deposit], rules: PatternRules, clinical: ClinicalContext | None = None
) -> list[PatternResult]:
    """The same as `evaluate_patterns`, from the deposits and rules alone."""
    if not deposits:
        return [_nothing(t, "no deposits found") for t in PATTERN_TYPES]
    study = split_deposits(deposits, rules)
    if not study.scored:
        why = "no deposit large enough and at a known site to match a pattern"
        return [_nothing(t, why, _unscored(study)) for t in PATTERN_TYPES]
    scored = [score_type(t, study, rules) for t in PATTERN_TYPES]
    if clinical is not None:
        scored = [_with_clinical(s, clinical, study, rules) for s in scored]
    results = sorted((_result(s, rules.verdicts, study) for s in scored), key=_rank_key)
    if clinical is not None and clinical.notes:
        results[0].reasons.append(f"clinical notes (not scored): {clinical.notes}")
    return results


def _nothing(pattern_type: str, why: str, extra: list[str] | None = None) -> PatternResult:
    return PatternResult(type=pattern_type, verdict="unlikely", score=0.0, reasons=[why, *(extra or [])])


def _with_clinical(s: Scored, ctx: ClinicalContext, study: Study, rules: PatternRules) -> Scored:
    found = clinical_effects.findings(ctx, rules.clinical, study.scored)
    label = rules.type_rules(s.type).label
    score, reasons = clinical_effects.adjust(s.type, label, s.score, found, rules.clinical)
    return Scored(s.type, score, s.evidence, s.reasons + reasons)


def verdict(score: float, cut: Verdicts) -> str:
    if score >= cut.consistent:
        return "consistent"
    return "possible" if score >= cut.possible else "unlikely"


def _result(s: Scored, cut: Verdicts, study: Study) -> PatternResult:
    score = round(s.score, 3)
    reasons = s.reasons + _unscored(study)
    return PatternResult(
        type=s.type, verdict=verdict(score, cut), score=score, evidence=s.evidence, reasons=reasons
    )


def _unscored(study: Study) -> list[str]:
    out = []
    if study.unplaced:
        n = w.plural(len(study.unplaced), "deposit")
        out.append(f"{n} at an unknown site not scored {w.cite(study.unplaced)}")
    if study.specks:
        out.append(f"{w.plural(len(study.specks), 'tiny speck')} not scored {w.cite(study.specks)}")
    return out


def _rank_key(p: PatternResult) -> tuple[float, int]:
    """Best score first; ties in the contract's order of the types, so reruns agree."""
    return (-p.score, PATTERN_TYPES.index(p.type))
