"""Ranking of the documented site patterns of each calcinosis type for one study.

This version lists all four types as the report contract requires; the site mapping and the
rules that rank them (configs/site_patterns.yaml) come with the site-mapping stage.
"""

from __future__ import annotations

from pipeline.config import Config
from pipeline.models import PatternResult, StudyResult
from pipeline.vocab import PATTERN_TYPES


def evaluate_patterns(result: StudyResult, config: Config) -> list[PatternResult]:
    reason = (
        "no deposits found"
        if not result.deposits
        else "site patterns are not evaluated by this version (deposit sites are not mapped yet)"
    )
    return [PatternResult(type=t, verdict="unlikely", score=0.0, reasons=[reason]) for t in PATTERN_TYPES]
