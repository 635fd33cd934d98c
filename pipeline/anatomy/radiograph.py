"""Site of a radiograph's deposits from its header: BodyPartExamined names the region,
ImageLaterality the side. A projection image has no depth, so the tissue is only named
when the body part implies it (a chest film's lung fields are not told from its wall)."""

from __future__ import annotations

from pipeline.anatomy.regions import body_part_region
from pipeline.models import Radiograph, RadiographFindings

SIDES = {"L": "left", "R": "right", "B": "unknown"}
MIDLINE_REGIONS = {"head", "neck", "chest", "abdomen", "pelvis"}


def radiograph_site(radiograph: Radiograph) -> tuple[str, str, str, list[str]]:
    """(region, laterality, tissue, evidence) for deposits seen on one radiograph."""
    part, view, lat = radiograph.body_part_examined, radiograph.view_position, radiograph.laterality
    region = body_part_region(part) or "unknown"
    evidence = [
        f"region {region}: BodyPartExamined {part!r}" if part else "region unknown: no BodyPartExamined"
    ]
    side = SIDES.get((lat or "").strip().upper(), "unknown")
    if side != "unknown":
        evidence.append(f"side {side}: ImageLaterality/Laterality {lat!r}")
    elif lat and lat.strip().upper() == "B":
        evidence.append("side unknown: both sides in the image (Laterality 'B')")
    elif region in MIDLINE_REGIONS:
        evidence.append(f"side unknown: a {region} film shows both sides; no Laterality given")
    else:
        evidence.append("side unknown: no ImageLaterality or Laterality in the header")
    if view:
        evidence.append(f"view {view}: a projection, so depth (tissue) is not told")
    return region, side, "unknown", evidence


def map_radiograph_sites(findings: RadiographFindings) -> None:
    """Every opacity of one image gets the image's site: a projection places a deposit in
    the body part the film shows, not more precisely."""
    region, side, tissue, evidence = radiograph_site(findings.image)
    for d in findings.deposits:
        d.region, d.laterality, d.tissue, d.site_evidence = region, side, tissue, list(evidence)
