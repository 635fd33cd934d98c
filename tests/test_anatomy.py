"""Site mapping (pipeline/anatomy): region, side and tissue of every deposit.

- Phantoms (seeds not used while the rules were written): detected deposits matched to the
  truth deposits by voxel overlap, accuracy of region, side and tissue measured.
- A real abdomen CT (TotalSegmentator's example): with its organ label map, and with the
  heuristics alone.
- Malformed label maps, radiograph headers.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import FileMetaDataset

from pipeline.anatomy import LabelMapError, label_map_from_seg, load_label_map, map_sites, radiograph_site
from pipeline.config import AnatomyConfig
from pipeline.discover import discover
from pipeline.load import load_stack
from pipeline.models import CTVolume, Radiograph
from pipeline.vocab import LATERALITIES, REGIONS, TISSUES
from tests.conftest import SHARED_DATA, pydicom_data_dir
from tests.phantom_cases import segmented_phantom
from tests.real_cases import segmented_abdomen

ABDOMEN = SHARED_DATA / "totalseg-abdomen-ct"
# held-out seeds: the rules were developed on seeds 0-4
PHANTOMS = [("metastatic", 5), ("tumoral", 5), ("dystrophic", 6), ("calcific_tendinitis", 5)]


def _phantom_rows(scenario: str, seed: int) -> list[tuple[str, str, str, str, str, str, str]]:
    """(site, truth region/side/tissue, found region/side/tissue) per detected deposit."""
    case = segmented_phantom(scenario, seed)
    map_sites(case.segmentation, AnatomyConfig())
    rows = []
    for dep in case.segmentation.deposits:
        t = case.main_truth(dep)
        if t is None:
            continue  # a false positive has no truth site
        rows.append(
            (t.site.name, t.site.region, t.laterality, t.site.tissue, dep.region, dep.laterality, dep.tissue)
        )
        assert dep.region in REGIONS and dep.tissue in TISSUES and dep.laterality in LATERALITIES
        assert len(dep.site_evidence) >= 3 and all(isinstance(e, str) and e for e in dep.site_evidence)
    return rows


@pytest.fixture(scope="module")
def phantom_results():
    return {(scenario, seed): _phantom_rows(scenario, seed) for scenario, seed in PHANTOMS}


def _accuracy(rows, truth_col: int, found_col: int) -> float:
    return sum(r[truth_col] == r[found_col] for r in rows) / len(rows)


def test_phantom_site_accuracy(phantom_results):
    rows = [r for rs in phantom_results.values() for r in rs]
    assert len(rows) >= 20, "too few detected deposits to measure"
    region, side, tissue = _accuracy(rows, 1, 4), _accuracy(rows, 2, 5), _accuracy(rows, 3, 6)
    wrong = Counter((r[0], r[3], r[6]) for r in rows if r[3] != r[6])
    print(
        f"\nphantom sites over {len(rows)} deposits: region {region:.2f} side {side:.2f} tissue {tissue:.2f}"
    )
    for (scenario, seed), rs in phantom_results.items():
        if rs:
            print(
                f"  {scenario} seed {seed}: n={len(rs)} region {_accuracy(rs, 1, 4):.2f} side "
                f"{_accuracy(rs, 2, 5):.2f} tissue {_accuracy(rs, 3, 6):.2f}"
            )
    assert region >= 0.90, Counter((r[0], r[4]) for r in rows if r[1] != r[4])
    assert side >= 0.95, Counter((r[0], r[5]) for r in rows if r[2] != r[5])
    assert tissue >= 0.85, wrong


# --- the real abdomen CT ---------------------------------------------------------------


@pytest.fixture(scope="module")
def abdomen():
    """The real abdomen CT as a DICOM series, segmented, with its organ labels."""
    return segmented_abdomen()


def _in_organ(seg, organs, names, organ: str) -> list:
    mask = organs == names[organ]
    return [d for d in seg.deposits if mask[seg.labels == d.label].any()]


def test_abdomen_with_label_map(abdomen):
    seg, organs, names = abdomen
    labels = load_label_map(ABDOMEN / "labels_totalsegmentator.nii.gz", seg.volume)
    np.testing.assert_array_equal(labels.labels, organs)  # same grid: resampling is exact
    map_sites(seg, AnatomyConfig(), labels)
    for organ, side in (("kidney_left", "left"), ("kidney_right", "right")):
        found = _in_organ(seg, organs, names, organ)
        assert found
        for d in found:
            assert (d.tissue, d.laterality, d.region) == ("kidney", side, "abdomen"), d.site_evidence
            assert any("TotalSegmentator label kidney" in e for e in d.site_evidence)
    aortic = _in_organ(seg, organs, names, "aorta")
    assert aortic and all(d.tissue == "arterial_wall" for d in aortic)


def test_abdomen_heuristics_alone(abdomen):
    seg, organs, names = abdomen
    map_sites(seg, AnatomyConfig())
    kidneys = {side: _in_organ(seg, organs, names, f"kidney_{side}") for side in ("left", "right")}
    for side, found in kidneys.items():
        assert found
        for d in found:
            assert (d.region, d.tissue, d.laterality) == ("abdomen", "kidney", side), d.site_evidence
    aortic = _in_organ(seg, organs, names, "aorta")
    assert aortic
    for d in aortic:
        assert d.region == "abdomen", d.site_evidence
    print("\naortic foci without the label map:", Counter(d.tissue for d in aortic))


# --- malformed label maps -----------------------------------------------------------------


def _tiny_volume() -> CTVolume:
    hu = np.full((10, 20, 20), -1000, np.int16)
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    return CTVolume(hu, affine, "s", "se", "x", None, 120.0, None, None, None)


def _write_nifti(path, array, origin=(0.0, 0.0, 0.0)) -> None:
    img = sitk.GetImageFromArray(array)
    img.SetSpacing((2.0, 2.0, 3.0))
    img.SetOrigin(origin)
    sitk.WriteImage(img, str(path))


def test_label_map_without_names_is_an_error(tmp_path):
    path = tmp_path / "seg.nii.gz"
    _write_nifti(path, np.ones((10, 20, 20), np.uint8))
    with pytest.raises(LabelMapError, match=r"seg\.nii\.gz.*no class names found.*label_names\.json"):
        load_label_map(path, _tiny_volume())


def test_label_map_elsewhere_is_an_error(tmp_path):
    path = tmp_path / "seg.nii.gz"
    _write_nifti(path, np.ones((10, 20, 20), np.uint8), origin=(5000.0, 0.0, 0.0))
    (tmp_path / "label_names.json").write_text('{"1": "kidney_left"}')
    with pytest.raises(LabelMapError, match="does not overlap the CT"):
        load_label_map(path, _tiny_volume())


def test_label_map_unreadable_or_fractional(tmp_path):
    (tmp_path / "label_names.json").write_text('{"1": "kidney_left"}')
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not an image")
    with pytest.raises(LabelMapError, match=r"broken\.nii\.gz: cannot be read"):
        load_label_map(bad, _tiny_volume())
    frac = tmp_path / "frac.nii.gz"
    _write_nifti(frac, np.full((10, 20, 20), 0.5, np.float32))
    with pytest.raises(LabelMapError, match="non-integer"):
        load_label_map(frac, _tiny_volume())


def test_label_names_by_name_not_number(tmp_path):
    """Another model version numbers its classes differently: names decide."""
    path = tmp_path / "seg.nii.gz"
    arr = np.zeros((10, 20, 20), np.uint8)
    arr[2:5, 2:8, 2:8] = 7
    _write_nifti(path, arr)
    (tmp_path / "label_names.json").write_text('{"7": "Kidney Right", "1": "spleen"}')
    labels = load_label_map(path, _tiny_volume())
    assert labels.names["kidney_right"] == 7
    assert labels.organ_at(tuple(np.array([[3, 4, 4]]).T)) == "kidney_right"


def test_dicom_seg_segments_matched_by_label(tmp_path):
    volume = _tiny_volume()
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.Modality = "SEG"
    ds.Rows, ds.Columns = 20, 20
    seg_item = pydicom.Dataset()
    seg_item.SegmentNumber = 1
    seg_item.SegmentLabel = "Left Kidney"
    ds.SegmentSequence = [seg_item]
    frames = []
    for k in (3, 4):
        item = pydicom.Dataset()
        ident = pydicom.Dataset()
        ident.ReferencedSegmentNumber = 1
        item.SegmentIdentificationSequence = [ident]
        pos = pydicom.Dataset()
        pos.ImagePositionPatient = [0.0, 0.0, 3.0 * k]
        item.PlanePositionSequence = [pos]
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = frames
    pixels = np.zeros((2, 20, 20), np.uint8)
    pixels[:, 5:9, 5:9] = 1
    ds.NumberOfFrames, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 2, 8, 8, 7
    ds.SamplesPerPixel, ds.PixelRepresentation, ds.PhotometricInterpretation = 1, 0, "MONOCHROME2"
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.PixelData = pixels.tobytes()
    labels = label_map_from_seg(ds, volume)
    assert labels.labels[3, 6, 6] == 1 and labels.labels[0].max() == 0
    assert labels.organ_at(tuple(np.array([[4, 6, 6]]).T)) == "kidney_left"
    not_seg = pydicom.Dataset()
    not_seg.Modality = "CT"
    with pytest.raises(LabelMapError, match="not a segmentation"):
        label_map_from_seg(not_seg, volume)


# --- radiographs -------------------------------------------------------------------------


def _radiograph(body_part, view, laterality) -> Radiograph:
    return Radiograph(
        pixels=np.zeros((4, 4), np.float32),
        study_uid="s",
        series_uid="se",
        sop_instance_uid="i",
        stack_label="x",
        path=Path("x.dcm"),
        pixel_spacing_mm=None,
        spacing_source="none",
        body_part_examined=body_part,
        view_position=view,
        laterality=laterality,
        patient_orientation=None,
        inverted=False,
        bits_stored=None,
    )


@pytest.mark.parametrize(
    ("body_part", "view", "lat", "expected"),
    [
        ("HAND", "PA", "L", ("hand", "left")),
        ("SHOULDER", "AP", "R", ("shoulder", "right")),
        ("KNEE", "LAT", None, ("knee", "unknown")),
        ("CHEST", "PA", None, ("chest", "unknown")),
        ("PELVIS", "AP", "B", ("pelvis", "unknown")),
        (None, None, None, ("unknown", "unknown")),
    ],
)
def test_radiograph_site_from_header(body_part, view, lat, expected):
    region, side, tissue, evidence = radiograph_site(_radiograph(body_part, view, lat))
    assert (region, side) == expected
    assert tissue == "unknown" and evidence


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("RG1_UNCR.dcm", ("chest", "unknown")),  # CHEST PA, no laterality
        ("RG3_UNCR.dcm", ("unknown", "right")),  # EXTREMITY AP, Laterality R: which limb is not said
    ],
)
def test_radiograph_site_of_real_files(name, expected):
    """Real CR files of pydicom-data, loaded by the pipeline's own loader."""
    path = pydicom_data_dir() / name
    (stack,) = [st for s in discover([path]).studies for st in s.stacks]
    region, side, tissue, evidence = radiograph_site(load_stack(stack))
    assert (region, side) == expected, evidence
    assert tissue == "unknown"
