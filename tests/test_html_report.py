"""report.html, images/*.png and index.html: orientation, outlines, and a real browser.

Orientation is checked on synthetic volumes whose array layout differs but whose patient
anatomy is the same, so a renderer that trusts the array's axes instead of the affine puts
the marker on the wrong side. The pages are opened in Debian's chromium through playwright,
as a reader would open them from disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipeline.config import load_config
from pipeline.models import (
    CTVolume,
    Deposit,
    Radiograph,
    RadiographFindings,
    Segmentation,
    Study,
    StudyResult,
)
from pipeline.report import key_image_files
from pipeline.report.html_report import write_html_report, write_index_html
from pipeline.report.image_views import DisplayFrame, axial_view, coronal_mip, radiograph_edges
from pipeline.report.json_report import study_report
from pipeline.report.key_images import OUTLINE, PANEL_PX, TITLE_PX, deposit_image, radiograph_image
from pipeline.segment.grid import WorkGrid
from tests.conftest import ct_deposits, require_tool

SHAPE_ZYX = (20, 40, 50)
SPACING_XYZ = (1.0, 1.2, 3.0)  # anisotropic on purpose
ORIGIN = (-25.0, -24.0, 0.0)
MARKER_ZYX = (16, 8, 40)  # superior, anterior, patient's left (LPS: +z, -y, +x)
DEPOSIT_HU = 600
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# --- synthetic volumes ------------------------------------------------------------------


def _lps_array() -> np.ndarray:
    """Soft tissue with one dense block at MARKER_ZYX, indexed [z, y, x] along +S, +P, +L."""
    hu = np.full(SHAPE_ZYX, 40, dtype=np.int16)
    z, y, x = MARKER_ZYX
    hu[z - 1 : z + 2, y - 2 : y + 3, x - 2 : x + 3] = DEPOSIT_HU
    return hu


def _stored(lps_of_voxel: tuple[int, int, int], signs: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The same anatomy stored another way: voxel axis a (i, j, k) runs along patient axis
    lps_of_voxel[a] in the sense signs[a]. Returns (array [k, j, i], affine)."""
    canon = _lps_array()
    array = np.transpose(canon, [2 - lps_of_voxel[2 - b] for b in range(3)])
    for b in range(3):
        if signs[2 - b] < 0:
            array = np.flip(array, axis=b)
    affine = np.zeros((4, 4))
    affine[3, 3] = 1.0
    origin = np.array(ORIGIN)
    for a, (axis, sign) in enumerate(zip(lps_of_voxel, signs, strict=True)):
        affine[axis, a] = sign * SPACING_XYZ[axis]
        if sign < 0:
            origin[axis] += (SHAPE_ZYX[2 - axis] - 1) * SPACING_XYZ[axis]
    affine[:3, 3] = origin
    return np.ascontiguousarray(array), affine


LAYOUTS = {
    "identity": ((0, 1, 2), (1, 1, 1)),
    "flipped_x_y": ((0, 1, 2), (-1, -1, 1)),  # direction diag(-1, -1, 1)
    "coronal_stack": ((0, 2, 1), (1, -1, 1)),  # rows run towards the feet, slices posterior
}


def _volume(layout: str) -> CTVolume:
    hu, affine = _stored(*LAYOUTS[layout])
    return CTVolume(hu, affine, "1.2.3", "1.2.3.4", "1.2.3.4#1", None, 120.0, None, None, SPACING_XYZ[2])


def _marker_lps(volume: CTVolume) -> np.ndarray:
    k, j, i = np.argwhere(volume.hu == DEPOSIT_HU).mean(axis=0)
    return volume.index_to_lps([i, j, k])[0]


def _segmentation(volume: CTVolume) -> Segmentation:
    """The marker as deposit D1 (label 1) of a segmentation of `volume`."""
    labels = (volume.hu == DEPOSIT_HU).astype(np.int32)
    k, j, i = np.argwhere(labels).T
    centroid_ijk = (float(i.mean()), float(j.mean()), float(k.mean()))
    deposit = Deposit(
        label=1,
        series_uid=volume.series_uid,
        stack_label=volume.stack_label,
        n_voxels=int(labels.sum()),
        volume_mm3=float(labels.sum() * volume.voxel_volume_mm3),
        max_hu=float(DEPOSIT_HU),
        mean_hu=float(DEPOSIT_HU),
        agatston=10.0,
        mass_mg=None,
        equivalent_diameter_mm=5.0,
        largest_axial_area_mm2=30.0,
        centroid_ijk=centroid_ijk,
        centroid_lps_mm=tuple(volume.index_to_lps(centroid_ijk)[0]),  # type: ignore[arg-type]
        bbox_ijk=(
            (int(i.min()), int(j.min()), int(k.min())),
            (int(i.max()) + 1, int(j.max()) + 1, int(k.max()) + 1),
        ),
        lobes=1,
        id="D1",
        region="chest",
        laterality="left",
        tissue="muscle",
    )
    grid = WorkGrid.for_volume(volume.hu.shape, tuple(reversed(volume.spacing)))  # type: ignore[arg-type]
    return Segmentation(volume, [deposit], labels, {}, grid, 130.0, 10.0, False)


def _bright_centre(pixels: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(pixels >= DEPOSIT_HU)
    return float(rows.mean()), float(cols.mean())


# --- orientation -------------------------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_same_anatomy_is_shown_the_same_way_whatever_the_array_layout(layout: str):
    volume = _volume(layout)
    assert np.allclose(_marker_lps(volume), _marker_lps(_volume("identity")))  # the test's own premise
    frame = DisplayFrame.of(volume)
    assert not frame.oblique
    z = round(frame.to_canonical(_segmentation(volume).deposits[0].centroid_ijk)[0])

    axial = axial_view(frame, volume.hu, z)
    row, col = _bright_centre(axial.pixels)
    assert (axial.top, axial.bottom, axial.left, axial.right) == ("A", "P", "R", "L")
    assert col > axial.pixels.shape[1] / 2, "patient's left must be on the viewer's right"
    assert row < axial.pixels.shape[0] / 2, "anterior must be at the top"
    assert (axial.row_mm, axial.col_mm) == (SPACING_XYZ[1], SPACING_XYZ[0])

    coronal = coronal_mip(frame, volume.hu)
    row, col = _bright_centre(coronal.pixels)
    assert (coronal.top, coronal.left) == ("S", "R")
    assert row < coronal.pixels.shape[0] / 2, "superior must be at the top"
    assert col > coronal.pixels.shape[1] / 2
    assert coronal.row_mm == SPACING_XYZ[2]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_rendered_slice_puts_the_outlined_deposit_on_the_patients_side(layout: str):
    """The same check on the PNG's whole-slice panel, after resampling and drawing."""
    image, z_mm = deposit_image(_segmentation(_volume(layout)), _segmentation(_volume(layout)).deposits[0])
    context = np.asarray(image)[TITLE_PX:, :PANEL_PX]
    rows, cols = np.nonzero(np.all(context == OUTLINE, axis=2))
    assert rows.size, "the deposit is outlined on the whole slice"
    assert cols.mean() > PANEL_PX / 2 and rows.mean() < PANEL_PX / 2
    assert z_mm == pytest.approx(ORIGIN[2] + MARKER_ZYX[0] * SPACING_XYZ[2])


def test_an_oblique_volume_is_shown_along_its_nearest_axes_and_says_so():
    hu, affine = _stored(*LAYOUTS["identity"])
    turn = np.radians(20)
    rotation = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
    affine[:3, :3] = rotation @ affine[:3, :3]
    volume = CTVolume(hu, affine, "1.2.3", "1.2.3.4", "1.2.3.4#1", None, None, None, None, None)
    frame = DisplayFrame.of(volume)
    assert frame.oblique and frame.off_axis_deg == pytest.approx(20, abs=0.01)
    notes = key_image_files._geometry_notes(_segmentation(volume), {})
    assert any("oblique" in n for n in notes)


def test_radiograph_edges_follow_patient_orientation():
    # first value: direction of increasing column index; second: of increasing row index
    assert radiograph_edges(("L", "F")) == ("H", "F", "R", "L")
    assert radiograph_edges(("P", "H")) == ("F", "H", "A", "P")
    assert radiograph_edges(("LP", "F")) == ("H", "F", "RA", "LP")
    assert radiograph_edges(None) is None
    assert radiograph_edges(("X", "F")) is None


def test_a_radiograph_is_shown_as_stored_with_letters_that_say_where_the_patient_is():
    pixels = np.zeros((200, 100), np.float32)
    pixels[25:55, 5:25] = 1000  # near column 0, i.e. towards the patient's left (row direction R)
    rg = Radiograph(pixels, "1", "2", "3", "2#1", Path("x.dcm"), (0.5, 0.5), "PixelSpacing", None, "PA",
                    None, ("R", "F"), False, 12)  # fmt: skip
    grey = np.asarray(radiograph_image(rg, []).convert("L"))
    assert grey.shape == (200, 100)
    assert grey[27:53, 7:23].min() > 200, "never mirrored: a burned-in side marker must stay readable"
    assert grey[27:53, 77:93].max() < 50
    assert radiograph_edges(rg.patient_orientation)[2:] == ("L", "R"), "left edge says L, right edge R"


# --- outlines ----------------------------------------------------------------------------


def test_the_outline_surrounds_the_deposit_and_never_covers_it():
    seg = _segmentation(_volume("flipped_x_y"))
    image, _ = deposit_image(seg, seg.deposits[0])
    pixels = np.asarray(image)
    for n in (1, 2):  # the soft-tissue and bone crops
        left = n * (PANEL_PX + 4)
        panel = pixels[TITLE_PX:, left : left + PANEL_PX]
        red = np.all(panel == OUTLINE, axis=2)
        deposit = panel.min(axis=2) >= 250 if n == 1 else panel.min(axis=2) >= 120
        deposit &= ~red
        rows, cols = np.nonzero(deposit[40:-40, 40:-40])  # away from the edge letters
        assert rows.size > 50
        red_rows, red_cols = np.nonzero(red)
        assert red_rows.min() < rows.min() + 40 <= rows.max() + 40 < red_rows.max()
        assert red_cols.min() < cols.min() + 40 <= cols.max() + 40 < red_cols.max()
        # the outline hugs the deposit: 5 x 5 voxels of 1.0 x 1.2 mm in an 80 mm field
        px_mm = 80.0 / PANEL_PX
        assert (red_cols.max() - red_cols.min()) * px_mm == pytest.approx(5 * SPACING_XYZ[0], abs=2.0)
        assert (red_rows.max() - red_rows.min()) * px_mm == pytest.approx(5 * SPACING_XYZ[1], abs=2.0)
        assert not (red & (panel.min(axis=2) >= 250)).any()


# --- pages -------------------------------------------------------------------------------


def _result(volume: CTVolume, radiograph: Radiograph | None = None) -> StudyResult:
    study = Study("1.2.3", "SECRET-PATIENT-42", "20250102", "ACC-SECRET-7", "<b>study</b>", [])
    seg = _segmentation(volume)
    films = (
        [RadiographFindings(radiograph, [], np.zeros(radiograph.pixels.shape, np.int32), 1.0)]
        if radiograph
        else []
    )
    return StudyResult(study, [], seg.deposits, [seg], radiograph_findings=films)


def _report_of(result: StudyResult) -> dict[str, Any]:
    report = study_report(result, patient_id="ANON-0123456789AB")
    report["study"]["accession_number"] = None  # as --deidentify leaves it
    return report


def test_report_text_comes_from_the_report_dict_and_is_escaped(tmp_path: Path):
    result = _result(_volume("identity"))
    paths = write_html_report(tmp_path, result, _report_of(result), load_config(None, {}).as_dict())
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "ANON-0123456789AB" in page
    assert "SECRET" not in page
    assert "<b>study</b>" not in page and "&lt;b&gt;study&lt;/b&gt;" in page
    assert paths == ["images/overview_1.png", "images/deposit_D1.png"]
    assert all((tmp_path / p).is_file() for p in paths)
    assert "threshold_hu" in page and "LPS mm" in page and "Not a diagnosis" in page
    assert re.search(r'<tr id="dep-D1"><td><a href="#img-deposit_D1">D1</a>', page)
    for tag in re.findall(r"<img [^>]*>", page):
        assert re.search(r'width="\d+"', tag) and re.search(r'height="\d+"', tag) and 'alt="' in tag
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_deposit_images_are_bounded(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(key_image_files, "MAX_DEPOSIT_IMAGES", 0)
    result = _result(_volume("identity"))
    paths = write_html_report(tmp_path, result, _report_of(result), {})
    assert paths == ["images/overview_1.png"]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "1 more deposit(s) not shown" in page and "not shown</td>" in page


def test_index_links_only_the_reports_that_exist(tmp_path: Path):
    (tmp_path / "studies" / "a").mkdir(parents=True)
    (tmp_path / "studies" / "a" / "report.html").write_text("<html></html>")
    run = {
        "tool": {"name": "calcscan", "version": "9.9"},
        "started": "2026-01-01T00:00:00+00:00",
        "exit_code": 1,
        "studies": [
            {"key": "a", "study_instance_uid": "1.2", "status": "analyzed", "reason": None, "seconds": 1.5,
             "n_deposits": 2, "report": "studies/a/report.json", "modalities": "CT/DX",
             "top_pattern": "tumoral", "top_verdict": "consistent", "regions": ["hip"]},
            {"key": "b", "study_instance_uid": "1.3", "status": "failed", "reason": "<boom>", "seconds": 0.1,
             "n_deposits": 0, "report": None},
        ],
    }  # fmt: skip
    write_index_html(tmp_path, run)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert 'href="studies/a/report.html"' in page and "studies/b/report.html" not in page
    assert "&lt;boom&gt;" in page and "tumoral" in page and "CT/DX" in page and "9.9" in page
    assert "not a diagnosis" in page.lower()


# --- a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=BROWSER_ARGS, headless=True)
        yield launched
        launched.close()


def check_in_browser(browser: Any, page_path: Path, shot: Path) -> dict[str, Any]:
    """Open a page from disk; every image loads, nothing fails, every #anchor exists."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_path.resolve().as_uri(), wait_until="load")
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => ({src: e.src, complete: e.complete, width: e.naturalWidth}))"
    )
    links = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    missing = [h for h in links if h.startswith("#") and page.query_selector(f"[id='{h[1:]}']") is None]
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert not errors and not failed, (errors, failed)
    assert all(i["complete"] and i["width"] > 0 for i in images), images
    assert not missing, missing
    files = [h for h in links if not h.startswith("#")]
    assert all((page_path.parent / h).is_file() for h in files), files
    grey = np.asarray(Image.open(shot).convert("L"))
    assert grey.shape[0] > 900 and grey.std() > 10, "the screenshot is not blank"
    return {"images": images, "links": links}


def test_a_synthetic_report_opens_in_a_browser(browser, tmp_path: Path):
    pixels = np.linspace(0, 3000, 300 * 200, dtype=np.float32).reshape(300, 200)
    rg = Radiograph(pixels, "1.2.3", "9.9", "9.9.1", "9.9#1", Path("x.dcm"), None, "none", None, None, None,
                    None, False, 12)  # fmt: skip
    result = _result(_volume("coronal_stack"), rg)
    write_html_report(tmp_path / "study", result, _report_of(result), {})
    seen = check_in_browser(browser, tmp_path / "study" / "report.html", tmp_path / "shot.png")
    assert len(seen["images"]) == 3


def _sample_pages(out: Path) -> list[Path]:
    run = json.loads((out / "run.json").read_text())
    pages = [out / "studies" / s["key"] / "report.html" for s in run["studies"] if s["status"] == "analyzed"]
    assert len(pages) == 4 and all(p.is_file() for p in pages), pages
    return pages


def test_sample_reports_open_in_a_browser(browser, sample_run, tmp_path: Path):
    out, done, _ = sample_run
    assert done.returncode == 0, done.stderr[-2000:]
    for n, page in enumerate(_sample_pages(out)):
        seen = check_in_browser(browser, page, tmp_path / f"report{n}.png")
        report = json.loads((page.parent / "report.json").read_text())
        assert len(seen["images"]) == 1 + len(ct_deposits(report)) + sum(
            s["kind"] == "radiograph" for s in report["series"]
        )


def test_sample_index_opens_in_a_browser_and_links_every_report(browser, sample_run, tmp_path: Path):
    out, _, _ = sample_run
    seen = check_in_browser(browser, out / "index.html", tmp_path / "index.png")
    expected = {str(p.relative_to(out)) for p in _sample_pages(out)}
    assert expected <= set(seen["links"])
