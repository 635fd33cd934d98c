"""How clinical context moves the pattern scores: likelihood ratios from the rules file.

A finding multiplies the odds of a type's imaging score by its likelihood ratio; the
imaging score stays the base, so context re-ranks close calls but cannot make a pattern
out of deposits that lie at none of its sites (a score of 0 stays 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.clinical import ClinicalContext
from pipeline.models import Deposit
from pipeline.report import wording as w
from pipeline.report.rules import ClinicalRules, Range


@dataclass(frozen=True)
class Finding:
    effect: str  # key of ClinicalEffects
    text: str  # as quoted in the reasons


def findings(ctx: ClinicalContext, rules: ClinicalRules, deposits: list[Deposit]) -> list[Finding]:
    """The clinical findings of a study that the rules have effects for."""
    out = _lab_findings(ctx, rules)
    if ctx.renal_disease:
        out.append(Finding("renal_disease", _condition("renal disease", ctx.renal_disease)))
    if ctx.parathyroid_disease:
        out.append(Finding("parathyroid_disease", _condition("parathyroid disease", ctx.parathyroid_disease)))
    if ctx.connective_tissue_disease:
        name = ctx.connective_tissue_disease
        out.append(
            Finding("connective_tissue_disease", "connective tissue disease" if name == "yes" else name)
        )
    out += _injection_findings(ctx, deposits)
    return out


def _condition(name: str, value: str) -> str:
    return name if value == "yes" else f"{name} ({value})"


def _lab_findings(ctx: ClinicalContext, rules: ClinicalRules) -> list[Finding]:
    ca, p, product = ctx.serum_calcium_mg_dl, ctx.serum_phosphate_mg_dl, ctx.calcium_phosphate_product
    out = []
    if product is not None and product > rules.calcium_phosphate_product_high:
        limit = rules.calcium_phosphate_product_high
        out.append(
            Finding(
                "high_calcium_phosphate_product",
                f"serum calcium x phosphate product {product:.0f} mg2/dL2 (> {limit:g})",
            )
        )
    ca_high = ca is not None and ca > rules.calcium_mg_dl.high
    p_high = p is not None and p > rules.phosphate_mg_dl.high
    if ca_high:
        out.append(Finding("high_calcium", f"serum calcium {ca:g} mg/dL (> {rules.calcium_mg_dl.high:g})"))
    if p_high and not ca_high:
        ca_text = "" if ca is None else f" with normal calcium {ca:g} mg/dL"
        text = f"high serum phosphate {p:g} mg/dL (> {rules.phosphate_mg_dl.high:g}){ca_text}"
        out.append(Finding("high_phosphate_normal_calcium", text))
    if (
        ca is not None
        and p is not None
        and _within(ca, rules.calcium_mg_dl)
        and _within(p, rules.phosphate_mg_dl)
    ):
        text = f"normal serum calcium ({ca:g} mg/dL) and phosphate ({p:g} mg/dL)"
        out.append(Finding("normal_calcium_and_phosphate", text))
    return out


def _within(value: float, rng: Range) -> bool:
    return rng.low <= value <= rng.high


def _injection_findings(ctx: ClinicalContext, deposits: list[Deposit]) -> list[Finding]:
    out = []
    for site in ctx.prior_injection_sites:
        hits = [d for d in deposits if site.matches(d.region, d.laterality)]
        if hits:
            text = f"{w.plural(len(hits), 'deposit')} at a prior injection site ({site.text}) {w.cite(hits)}"
            out.append(Finding("prior_injection_site", text))
    return out


def apply_ratio(score: float, ratio: float) -> float:
    """Bayes' rule on the odds: score/(1-score) x ratio, back to 0..1."""
    return score * ratio / (score * ratio + (1 - score)) if score > 0 else 0.0


def adjust(
    pattern_type: str, label: str, score: float, found: list[Finding], rules: ClinicalRules
) -> tuple[float, list[str]]:
    """The type's score after every finding with an effect on it, and the reasons quoted."""
    reasons = []
    for f in found:
        ratio = getattr(rules.effects, f.effect).get(pattern_type)
        if ratio is None or ratio == 1 or score <= 0:
            continue
        score = apply_ratio(score, ratio)
        verb = "supports" if ratio > 1 else "speaks against"
        reasons.append(f"clinical context: {f.text} {verb} {label}")
    return score, reasons
