"""Scores one calcinosis type against a study's deposits, from the rules' sites, features and
exclusions, and says why in plain language.

Every feature is a value 0..1 so that a clinician can weigh them against each other in the
rules file; features that describe the deposits at the documented sites are weighted by
how well the deposits match those sites, so that no feature can support a type on its own
when none of its sites is involved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.models import Deposit
from pipeline.report import wording as w
from pipeline.report.rules import (
    ANY,
    CountFeature,
    Exclusion,
    MassesFeature,
    OrgansFeature,
    PatternRules,
    SiteRule,
    SmallFeature,
    SpreadFeature,
    TypeRules,
    Weighted,
)


@dataclass
class Scored:
    """The imaging score of one type, before clinical context."""

    type: str
    score: float
    evidence: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


@dataclass
class Study:
    """The deposits of a study as the rules see them."""

    scored: list[Deposit]  # large enough and with a known region or tissue
    specks: list[Deposit]  # below ignore_below_mm3
    unplaced: list[Deposit]  # region and tissue both unknown


def split_deposits(deposits: list[Deposit], rules: PatternRules) -> Study:
    specks = [d for d in deposits if d.volume_mm3 < rules.ignore_below_mm3]
    rest = [d for d in deposits if d.volume_mm3 >= rules.ignore_below_mm3]
    unplaced = [d for d in rest if d.region == "unknown" and d.tissue == "unknown"]
    scored = [d for d in rest if not (d.region == "unknown" and d.tissue == "unknown")]
    return Study(scored, specks, unplaced)


def _part_credit(value: str, allowed: tuple[str, ...], unknown_credit: float) -> float:
    if value in allowed or ANY in allowed:
        return 1.0
    return unknown_credit if value == "unknown" else 0.0


def site_credit(dep: Deposit, site: SiteRule, unknown_credit: float) -> float:
    """How well a deposit lies at a site: the site's credit, reduced when the deposit's
    region or tissue is unknown (it may or may not be there). A known part that matches
    only because the site allows any value is no evidence of its own, so with the other
    part unknown it counts as unknown too: a shoulder deposit of unknown tissue supports
    tendinitis (shoulder) more than a type documented in any region."""
    region = _part_credit(dep.region, site.region, unknown_credit)
    tissue = _part_credit(dep.tissue, site.tissue, unknown_credit)
    if dep.tissue == "unknown" and ANY in site.region and dep.region not in site.region:
        region = unknown_credit
    if dep.region == "unknown" and ANY in site.tissue and dep.tissue not in site.tissue:
        tissue = unknown_credit
    return site.credit * region * tissue


def best_site(dep: Deposit, rules: TypeRules, unknown_credit: float) -> tuple[float, SiteRule | None]:
    best: tuple[float, SiteRule | None] = (0.0, None)
    for site in rules.sites:
        credit = site_credit(dep, site, unknown_credit)
        if credit > best[0]:
            best = (credit, site)
    return best


@dataclass
class _Ctx:
    """What the feature functions of one type share."""

    study: Study
    rules: PatternRules
    type_rules: TypeRules
    credit: dict[int, float]  # id() of a deposit -> its site credit
    site_of: dict[int, SiteRule]

    @property
    def support(self) -> list[Deposit]:
        return [d for d in self.study.scored if self.credit[id(d)] > 0]

    @property
    def mean_credit(self) -> float:
        return sum(self.credit.values()) / max(1, len(self.study.scored))

    def organ_deposits(self, tissues: tuple[str, ...] | None = None) -> list[Deposit]:
        organs = tissues or self.rules.internal_organs
        return [d for d in self.study.scored if d.tissue in organs]


Feature = Callable[[_Ctx, Any], tuple[float, list[str]]]


def _at_sites(ctx: _Ctx, _: Weighted) -> tuple[float, list[str]]:
    reasons = []
    by_site: dict[int, list[Deposit]] = {}
    for d in ctx.support:
        by_site.setdefault(id(ctx.site_of[id(d)]), []).append(d)
    for site in ctx.type_rules.sites:
        members = by_site.get(id(site), [])
        if members:
            typical = "" if site.credit >= 1 else " (less typical site)"
            name = site.name or "documented site"
            count = w.plural(len(members), "deposit")
            reasons.append(f"{name}{typical} ({count}): {w.sites_summary(members)}")
    others = [d for d in ctx.study.scored if ctx.credit[id(d)] == 0]
    if others:
        reasons.append(f"{w.plural(len(others), 'deposit')} outside its sites: {w.sites_summary(others)}")
    if not ctx.support:
        reasons.insert(0, "no deposit at its documented sites")
    return ctx.mean_credit, reasons


def _organs(ctx: _Ctx, f: OrgansFeature) -> tuple[float, list[str]]:
    involved = ctx.organ_deposits(f.tissues)
    if not involved:
        return 0.0, ["no internal organ involved (organ involvement is its hallmark)"]
    kinds = {d.tissue for d in involved}
    organs = sorted(t.replace("_", " ") for t in kinds if t in ctx.rules.internal_organs)
    others = sorted(t.replace("_", " ") + "s" for t in kinds if t not in ctx.rules.internal_organs)
    named = [f"{w.plural(len(organs), 'organ')} ({', '.join(organs)})"] if organs else []
    text = f"organ involvement (its hallmark): {' and '.join(named + others)}"
    return min(1.0, len(kinds) / f.full_at), [text]


def _spread(ctx: _Ctx, f: SpreadFeature) -> tuple[float, list[str]]:
    sites = {(d.region, d.tissue) for d in ctx.support if "unknown" not in (d.region, d.tissue)}
    value = min(1.0, len(sites) / f.full_at)
    if len(sites) < 2:
        return value, []
    return value, [f"{'widespread: ' if value >= 1 else ''}{len(sites)} distinct sites involved"]


def _ramp(x: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def mass_value(d: Deposit, f: MassesFeature) -> float:
    """0..1: how much a deposit is a "large, multi-lobulated, calcific mass"."""
    cm3 = max(d.volume_mm3, 1e-6) / 1000
    size = _ramp(math.log(cm3), math.log(f.large_from_cm3), math.log(f.large_full_cm3))
    lobes = _ramp(d.lobes, f.lobes_from, f.lobes_full)
    return size * (f.compact_credit + (1 - f.compact_credit) * lobes)


def _masses(ctx: _Ctx, f: MassesFeature) -> tuple[float, list[str]]:
    values = {id(d): ctx.credit[id(d)] * mass_value(d, f) for d in ctx.support}
    masses = sorted((d for d in ctx.support if values[id(d)] >= 0.25), key=lambda d: -d.volume_mm3)
    best = max(values.values(), default=0.0)
    if not masses:
        largest = max(ctx.study.scored, key=lambda d: d.volume_mm3, default=None)
        tail = f" (largest {_size(largest)})" if largest else ""
        return best, [f"no large multi-lobulated mass{tail}"]
    parts = [f"({_size(d)}) {w.sites_summary([d])}" for d in masses]
    return best, [f"large multi-lobulated {'mass' if len(masses) == 1 else 'masses'}: " + "; ".join(parts)]


def _size(d: Deposit) -> str:
    return f"{w.volume(d.volume_mm3)}, {w.plural(d.lobes, 'lobe')}"


def _small(ctx: _Ctx, f: SmallFeature) -> tuple[float, list[str]]:
    limit = f.max_mm3
    small = [d for d in ctx.support if d.volume_mm3 <= limit]
    value = sum(ctx.credit[id(d)] for d in small) / max(1, len(ctx.study.scored))
    if not ctx.support:
        return 0.0, []
    largest = max(ctx.support, key=lambda d: d.volume_mm3)
    text = (
        f"{len(small)} of {w.plural(len(ctx.support), 'supporting deposit')} small "
        f"(up to {w.volume(limit)}; largest {w.volume(largest.volume_mm3)})"
    )
    return value, [text]


def _no_organs(ctx: _Ctx, _: Weighted) -> tuple[float, list[str]]:
    organs = ctx.organ_deposits()
    fraction = len(organs) / max(1, len(ctx.study.scored))
    return ctx.mean_credit * (1 - fraction), ([] if organs else ["no internal organ involved"])


def _count(ctx: _Ctx, f: CountFeature) -> tuple[float, list[str]]:
    n = len(ctx.study.scored)
    usual, zero = f.usual_max, f.zero_at
    value = 1.0 if n <= usual else max(0.0, (zero - n) / (zero - usual))
    text = f"{w.plural(n, 'deposit')} in all (usually {usual} or fewer)"
    return ctx.mean_credit * value, [text]


FEATURES: dict[str, Feature] = {
    "at_sites": _at_sites,
    "organs": _organs,
    "spread": _spread,
    "masses": _masses,
    "small": _small,
    "no_organs": _no_organs,
    "count": _count,
}


def excluded(d: Deposit, ex: Exclusion) -> bool:
    return (
        (ex.tissue is None or d.tissue in ex.tissue)
        and (ex.min_cm3 is None or d.volume_mm3 >= ex.min_cm3 * 1000)
        and (ex.min_lobes is None or d.lobes >= ex.min_lobes)
    )


def _exclusion(ctx: _Ctx, ex: Exclusion) -> tuple[float, list[str]]:
    hits = [d for d in ctx.study.scored if excluded(d, ex)]
    if not hits:
        organs_only = ex.tissue is not None and set(ex.tissue) <= set(ctx.rules.internal_organs)
        return 1.0, (["no internal organ involved"] if organs_only and ctx.support else [])
    factor = 1 - min(ex.max_penalty, ex.per_deposit * max(0, len(hits) - ex.tolerate))
    tolerated = f" (up to {ex.tolerate} tolerated as incidental)" if factor == 1 else ""
    return factor, [f"{ex.reason}: {w.sites_summary(hits)}{tolerated}"]


def score_type(pattern_type: str, study: Study, rules: PatternRules) -> Scored:
    """Weighted mean of the features times the exclusion factors, with the reasons."""
    tr = rules.type_rules(pattern_type)
    ctx = _context(study, rules, tr)
    total = weight = 0.0
    reasons: list[str] = []
    for name, feature in tr.features.present().items():
        value, why = FEATURES[name](ctx, feature)
        total, weight = total + feature.weight * value, weight + feature.weight
        reasons += [r for r in why if r not in reasons]
    score = total / weight
    for ex in tr.exclusions:
        factor, why = _exclusion(ctx, ex)
        score *= factor
        reasons += [r for r in why if r not in reasons]
    return Scored(pattern_type, min(1.0, max(0.0, score)), w.ids(ctx.support), reasons)


def _context(study: Study, rules: PatternRules, tr: TypeRules) -> _Ctx:
    credit: dict[str, float] = {}
    site_of: dict[str, SiteRule] = {}
    for d in study.scored:
        c, site = best_site(d, tr, rules.unknown_site_credit)
        credit[id(d)] = c
        if site is not None:
            site_of[id(d)] = site
    return _Ctx(study, rules, tr, credit, site_of)
