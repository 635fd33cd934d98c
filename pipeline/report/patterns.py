"""Ranking of the documented site patterns of each calcinosis type for one study.

The rules (sites, size and shape features, exclusions, verdict cut-offs and the weight of
clinical context) live in configs/site_patterns.yaml so that a clinician can change them
without touching code; this module applies them and lists all four types, best first, as
the report contract requires.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.clinical import ClinicalContext
from pipeline.config import Config
from pipeline.models import Deposit, PatternResult, StudyResult
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
    """All four calcinosis types for a study's deposits, best match first."""
    rules = load_rules(config.patterns.rules_file)
    return rank_deposits(result.deposits, rules, clinical)


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
