"""--deidentify applies the DICOM Basic Application Level Confidentiality Profile (PS3.15
Annex E) to every output, with the Retain UIDs and Retain Longitudinal Temporal Information
(full dates) options.

A small phantom study (CT with deposits and a hand radiograph) is rewritten with a distinct
marker in every attribute of the profile's table that an input may carry, in a folder named
after the patient, and run with --deidentify: no marker may appear in any byte of any file
written, nor in any path; the SEG and SR must say which profile was applied, keep the
source's UIDs and study date, and still pass dciodvfy.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as dcm_codes

from pipeline.dicom import confidentiality_profile as profile
from pipeline.report.deidentify import REMOVED, Deidentifier, scrub
from pipeline.report.dicom_seg import SEG_DEVICE_SERIAL_NUMBER, SEG_SERIES_DESCRIPTION
from pipeline.report.dicom_sr import SR_SERIES_DESCRIPTION
from pipeline.report.schema import validate_report
from tests.conftest import calcscan, phantom_study, require_tool

KEY = "profile-test-key"
STUDY_DATE = "20240229"  # retained (full dates option): must be in the outputs
PATIENT_NAME = "MRKPNFAM^MRKPNGIV"
MARKERS = {  # every Annex E attribute an input may carry, each with a value found nowhere else
    "PatientName": PATIENT_NAME,
    "PatientID": "MRKPID01",
    "PatientBirthDate": "19010203",
    "PatientBirthTime": "131313.131313",
    "OtherPatientIDs": "MRKOTHERPID",
    "OtherPatientNames": "MRKOTHERNAME",
    "PatientBirthName": "MRKBIRTHNAME",
    "PatientMotherBirthName": "MRKMOTHER",
    "PatientAddress": "MRKADDRESS",
    "PatientTelephoneNumbers": "MRKPHONE",
    "PatientAge": "077Y",
    "PatientSize": "1.87654",
    "PatientWeight": "87.6543",
    "EthnicGroup": "MRKETHNIC",
    "Occupation": "MRKOCCUP",
    "AdditionalPatientHistory": "MRKHISTORY",
    "PatientComments": "MRKPATCOMM",
    "MedicalAlerts": "MRKALERT",
    "Allergies": "MRKALLERGY",
    "MilitaryRank": "MRKRANK",
    "BranchOfService": "MRKBRANCH",
    "CountryOfResidence": "MRKCOUNTRY",
    "RegionOfResidence": "MRKREGION",
    "PatientReligiousPreference": "MRKRELIG",
    "IssuerOfPatientID": "MRKISSUER",
    "ResponsiblePerson": "MRKRESPPERS",
    "LastMenstrualDate": "19020304",
    "AccessionNumber": "MRKACC01",
    "StudyID": "MRKSTUDYID",
    "StudyDescription": "MRKSTUDYDESC",
    "SeriesDescription": "MRKSERDESC",
    "ProtocolName": "MRKPROTOCOL",
    "ImageComments": "MRKIMGCOMM",
    "AdmittingDiagnosesDescription": "MRKADMITDIAG",
    "DerivationDescription": "MRKDERIV",
    "RequestedProcedureDescription": "MRKREQPROC",
    "PerformedProcedureStepID": "MRKPPSID",
    "PerformedProcedureStepDescription": "MRKPPSDESC",
    "PerformedProcedureStepStartDate": "19030405",
    "ContrastBolusAgent": "MRKCONTRAST",
    "InstitutionName": "MRKINSTNAME",
    "InstitutionAddress": "MRKINSTADDR",
    "InstitutionalDepartmentName": "MRKDEPT",
    "StationName": "MRKSTATION",
    "DeviceSerialNumber": "MRKSERIAL",
    "GantryID": "MRKGANTRY",
    "DetectorID": "MRKDETECTOR",
    "AcquisitionDeviceProcessingDescription": "MRKADPD",
    "OperatorsName": "MRKOPERATOR",
    "ReferringPhysicianName": "MRKREFPHYS",
    "PerformingPhysicianName": "MRKPERFPHYS",
    "PhysiciansOfRecord": "MRKPHYSREC",
    "NameOfPhysiciansReadingStudy": "MRKREADING",
    "RequestingPhysician": "MRKREQPHYS",
    "ClinicalTrialSponsorName": "MRKSPONSOR",
    "ClinicalTrialProtocolID": "MRKPROTID",
    "ClinicalTrialProtocolName": "MRKCTPNAME",
    "ClinicalTrialSiteID": "MRKSITEID",
    "ClinicalTrialSiteName": "MRKSITENAME",
    "ClinicalTrialSubjectID": "MRKSUBJ",
}
# what calcscan writes itself (its SEG's equipment is the SR's contributing equipment)
AUTHORED = {SEG_DEVICE_SERIAL_NUMBER, SEG_SERIES_DESCRIPTION, SR_SERIES_DESCRIPTION}
NESTED = ("MRKINSTCODE", "MRKIC1", "99MRK", "MRKRPID", "MRKSPSID", "MRKPRIVATE", "MRKCREATOR")


def _mark(ds: Dataset) -> None:
    """Every marker into `ds`, and some in sequences and a private block."""
    for keyword, value in MARKERS.items():
        setattr(ds, keyword, value)
    ds.StudyDate = STUDY_DATE
    ds.PatientSex = "M"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "MRKIC1", "99MRK", "MRKINSTCODE"
    ds.InstitutionCodeSequence = [code]
    request = Dataset()
    request.RequestedProcedureID, request.ScheduledProcedureStepID = "MRKRPID", "MRKSPSID"
    ds.RequestAttributesSequence = [request]
    ds.private_block(0x0011, "MRKCREATOR", create=True).add_new(0x01, "LO", "MRKPRIVATE")


def _needles() -> list[str]:
    values = [v for k, v in MARKERS.items() if k != "PatientName"]
    return [*values, *PATIENT_NAME.split("^"), *NESTED]


def _leaks(out: Path) -> list[str]:
    """Each marker found in a path or in the bytes of a file under `out`."""
    needles = [n.lower() for n in _needles()]
    found = []
    for path in sorted(out.rglob("*")):
        name = str(path.relative_to(out)).lower()
        data = path.read_bytes().lower() if path.is_file() else b""
        found += [f"{n} in {path.relative_to(out)}" for n in needles if n in name or n.encode() in data]
    return found


@pytest.fixture(scope="module")
def marked_study(tmp_path_factory) -> Path:
    """The input folder (named after the patient) of a phantom study carrying every marker."""
    folder = tmp_path_factory.mktemp("profile-in") / PATIENT_NAME
    phantom_study(folder, "dystrophic", 4)  # CT deposits and a DX film: SEG, SR with a film region
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        _mark(ds)
        ds.save_as(path, enforce_file_format=True)
    return folder


@pytest.fixture(scope="module")
def deidentified(marked_study: Path) -> Path:
    out = marked_study.parent.parent / "deidentified"
    done = calcscan("run", marked_study, "-o", out, "--deidentify", env={"CALCSCAN_PSEUDONYM_KEY": KEY})
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _dicom_outputs(out: Path) -> list[Path]:
    found = sorted(out.glob("studies/*/dicom/*.dcm"))
    assert {pydicom.dcmread(p, stop_before_pixels=True).Modality for p in found} == {"SEG", "SR"}
    return found


def test_no_marker_in_any_byte_or_path_of_the_outputs(marked_study: Path, deidentified: Path):
    source = pydicom.dcmread(next((marked_study / "CT").glob("*.dcm")), stop_before_pixels=True)
    assert all(str(source[k].value) == v for k, v in MARKERS.items())  # the input carries them
    written = {p.name for p in deidentified.rglob("*") if p.is_file()}
    assert {"run.json", "summary.csv", "index.html", "report.json", "report.html", "record.json"} <= written
    assert any(n.endswith(".png") for n in written) and any(n.endswith(".dcm") for n in written)
    assert _leaks(deidentified) == []


def test_seg_and_sr_declare_the_profile_and_keep_uids_and_dates(marked_study: Path, deidentified: Path):
    source = pydicom.dcmread(next((marked_study / "CT").glob("*.dcm")), stop_before_pixels=True)
    pseudonym = Deidentifier(KEY.encode(), key_is_random=False).pseudonym(MARKERS["PatientID"])
    for path in _dicom_outputs(deidentified):
        ds = pydicom.dcmread(path)
        assert str(ds.PatientName) == ds.PatientID == pseudonym
        assert ds.PatientIdentityRemoved == "YES" and ds.DeidentificationMethod
        codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
        assert codes == ["113100", "113106", "113110"]
        assert ds.StudyInstanceUID == source.StudyInstanceUID  # Retain UIDs
        assert ds.StudyDate == STUDY_DATE  # Retain Longitudinal Temporal Information, full dates
        assert ds.PatientSex == "" and ds.PatientBirthDate == "" and ds.AccessionNumber == ""
        assert _profile_attributes_left(ds) == [], path.name
        if ds.Modality == "SEG":  # the equipment highdicom copies (with InstitutionName...) is there
            assert ds.ContributingEquipmentSequence[0].Manufacturer == source.Manufacturer


def _profile_attributes_left(ds: Dataset, where: str = "") -> list[str]:
    """Attributes of the profile's table still holding a value that no option retains and
    calcscan did not write itself, at any depth (the SR content tree is calcscan's own)."""
    left = []
    for element in ds:
        keyword = element.keyword
        if element.VR == "SQ" and keyword != profile.AUTHORED_TREE:
            for n, item in enumerate(element.value):
                left += _profile_attributes_left(item, f"{where}{keyword}[{n}].")
        if element.tag.is_private:
            left.append(f"{where}{element.tag} (private)")
        elif keyword in profile.ACTIONS and not element.is_empty and not profile.retained(keyword):
            pseudonym = keyword in ("PatientName", "PatientID") and where == ""
            if not pseudonym and keyword != profile.AUTHORED_TREE and str(element.value) not in AUTHORED:
                left.append(f"{where}{keyword}")
    return left


def test_dicom_outputs_still_pass_dciodvfy(deidentified: Path):
    tool = require_tool("dciodvfy")
    for path in _dicom_outputs(deidentified):
        done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
        errors = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]
        assert errors == [], path.name


def test_reports_keep_the_study_date_and_drop_the_descriptions(deidentified: Path):
    (report_path,) = deidentified.glob("studies/*/report.json")
    report = json.loads(report_path.read_text())
    assert report["study"]["study_date"] == STUDY_DATE
    assert report["study"]["description"] is None and report["study"]["accession_number"] is None
    assert all(s["description"] is None for s in report["series"])
    assert report["study"]["deidentification"]["codes"] == ["113100", "113106", "113110"]
    assert report["deposits"], "the de-identified study is still reported"
    assert validate_report(report) == []
    assert "2024-02-29" in (report_path.parent / "report.html").read_text()
    with (deidentified / "summary.csv").open() as f:
        assert [row["study_date"] for row in csv.DictReader(f)] == [STUDY_DATE]
    run = json.loads((deidentified / "run.json").read_text())
    assert "Basic Application Level Confidentiality Profile" in run["deidentified"]


# --- the pieces ---------------------------------------------------------------------------


def _marked_dataset() -> Dataset:
    ds = Dataset()
    _mark(ds)
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.19010203"
    ds.PerformedProcedureStepEndDate = STUDY_DATE  # equal to a retained date: not an identifier
    ds.StationName = "CT1"  # too short to tell from report text
    ds.ProtocolName = "CHEST"  # a word of the reports
    ds.OperatorsName = "Hip"
    ds.ScheduledProcedureStepID = "1234"  # a short number
    return ds


def test_clean_dataset_removes_empties_and_keeps_what_the_options_and_calcscan_own():
    ds = _marked_dataset()
    ds.SeriesDescription = SEG_SERIES_DESCRIPTION  # calcscan's own
    item = Dataset()
    item.InstitutionName, item.DeviceSerialNumber, item.Manufacturer = "MRKINSTNAME", "MRKSERIAL", "ACME"
    ds.ContributingEquipmentSequence = [item]
    tree = Dataset()
    tree.PersonName = "MRKOBSERVER"  # the SR content tree is calcscan's: left whole
    ds.ContentSequence = [tree]
    profile.clean_dataset(ds, {"SeriesDescription": {SEG_SERIES_DESCRIPTION}})
    assert ds.PatientName == "" and ds.PatientID == "" and ds.PatientSex == "" and ds.StudyID == ""
    assert ds.StudyDate == STUDY_DATE and ds.StudyInstanceUID  # the two options
    assert ds.SeriesDescription == SEG_SERIES_DESCRIPTION
    for gone in ("InstitutionName", "StationName", "StudyDescription", "PatientAge", "PatientBirthTime",
                 "OtherPatientIDs", "RequestAttributesSequence", "ClinicalTrialSubjectID"):  # fmt: skip
        assert gone not in ds
    assert list(ds.ContributingEquipmentSequence[0].keys()) == [pydicom.tag.Tag("Manufacturer")]
    assert ds.ContentSequence[0].PersonName == "MRKOBSERVER"
    assert not any(element.tag.is_private for element in ds)


def test_profile_identifiers_are_the_removed_text_values_with_name_spellings():
    found = set(profile.profile_identifiers(_marked_dataset()))
    not_text = ("PatientAge", "PatientSize", "PatientWeight", "PatientBirthTime", "LastMenstrualDate")
    replaced = ("StationName", "ProtocolName", "OperatorsName", "PerformedProcedureStepStartDate")
    expected = {v for k, v in MARKERS.items() if k not in not_text + replaced}
    assert expected <= found  # the birth date included: the one date that identifies
    assert {"MRKPNFAM_MRKPNGIV", "MRKPNGIV MRKPNFAM", "MRKPNFAM MRKPNGIV", "MRKINSTCODE", "MRKRPID"} <= found
    uid = "1.2.826.0.1.3680043.8.498.19010203"
    assert not found & {STUDY_DATE, "CT1", "CHEST", "Hip", "1234", "1.87654", "M", uid}
    assert "MRKPNFAM" not in found  # single parts of a name are not erased everywhere


def test_scrub_keeps_uids_pseudonyms_and_report_words():
    text = {
        "path": "/data/MRKPNFAM_MRKPNGIV/19800101/CT",
        "uid": "stack 1.2.840.19800101.7#1 of ANON-0123456789AB",
        "words": "calcification at the hip, by Ron",
    }
    cleaned = scrub(text, ["MRKPNFAM_MRKPNGIV", "19800101", "ANON", "Ron", "hi"])
    assert cleaned == {
        "path": f"/data/{REMOVED}/{REMOVED}/CT",
        "uid": "stack 1.2.840.19800101.7#1 of ANON-0123456789AB",
        "words": f"calcification at the hip, by {REMOVED}",
    }


def test_the_table_and_codes_are_the_standard_ones():
    assert set(profile.ACTIONS.values()) <= {"X", "Z", "D", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}
    assert all(pydicom.datadict.tag_for_keyword(k) is not None for k in profile.ACTIONS)
    standard = [
        dcm_codes.DCM.BasicApplicationConfidentialityProfile,
        dcm_codes.DCM.RetainLongitudinalTemporalInformationFullDatesOption,
        dcm_codes.DCM.RetainUidsOption,
    ]
    assert [(c.value, c.meaning) for c in standard] == [profile.PROFILE_CODE, *profile.OPTION_CODES]
    assert set(profile.ACTIONS) >= profile.RETAINED_DATES


def test_discovery_collects_the_profile_identifiers():
    from pipeline.dicom.header import patient_identifiers

    ds = _marked_dataset()
    assert set(profile.profile_identifiers(ds)) <= set(patient_identifiers(ds))
