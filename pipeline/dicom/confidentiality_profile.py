"""The DICOM Basic Application Level Confidentiality Profile (PS3.15 Annex E), as `--deidentify`
applies it: which attributes go, which stay, and which input values must not reappear.

Why a table of our own: pydicom and highdicom ship no PS3.15 table; `deid` applies recipes
derived from CTP rather than Table E.1-1's actions; `dicognito` hard-codes its anonymisers;
`dicom-anonymizer` (Kitware, BSD) does ship Table E.1-1 (2026c) as tag lists per action,
but without the option columns, in a version-named internal module, and it would be a
run-time dependency for a lookup of a few hundred keywords. ACTIONS below is its 2026c
content for the attributes calcscan can meet: every root attribute of the modules of the
images it reads (CT, enhanced and legacy-converted CT, CR, DX; which includes the Patient
and Study modules highdicom copies into the SEG and SR, and the General Equipment it copies
into their Contributing Equipment), the patient demographic, identification and medical
modules, retired attributes that modality headers still carry, and those of the SEG and
SR that calcscan writes. An attribute outside it is still covered where it matters: every
person name but the pseudonym is emptied, private attributes are removed, and every text
is scrubbed of the collected identifiers.

Options applied (PS3.15 E.3), stated in DeidentificationMethodCodeSequence:
- Retain UIDs (113110): the SEG and SR keep the source's Study, Series, SOP Instance and
  Frame of Reference UIDs, so that they still reference their images in the PACS.
- Retain Longitudinal Temporal Information with Full Dates (113106): the procedure's dates
  and times (RETAINED_DATES) stay, since report.json's study_date is part of the report
  contract and follow-up studies are paired by date. Every other date in the table (birth,
  calibration, procedure step) is removed: removing more than the profile asks is allowed.

Everything else in the table is removed; what the SEG or SR must carry as type 2 is kept
empty (Z). calcscan's objects are new instances, so an attribute the profile would replace
with a dummy (D) is left out instead: none is required by the SEG or SR IOD except those
calcscan writes itself (the SR content tree, the SEG equipment's serial number).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from pipeline.vocab import LATERALITIES, PATTERN_TYPES, REGIONS, SERIES_KINDS, TISSUES, VERDICTS

log = logging.getLogger(__name__)

STANDARD = "DICOM PS3.15 2026c Annex E"
PROFILE_NAME = "Basic Application Level Confidentiality Profile"
# (code value, code meaning) of CID 7050, scheme DCM: the profile, then each option applied
PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
OPTION_CODES = (
    ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    ("113110", "Retain UIDs Option"),
)

# PS3.15 Table E.1-1 (2026c), Basic Profile column: X remove, Z empty, D dummy, U new UID,
# combinations as the table writes them ("X/Z/U*": remove, empty, or new UIDs inside)
ACTIONS: Mapping[str, str] = MappingProxyType({
    # Patient
    "ReferencedPatientSequence": "X",
    "PatientName": "Z",
    "PatientID": "Z/D",
    "IssuerOfPatientID": "X",
    "PatientBirthDate": "Z",
    "PatientBirthTime": "X",
    "PatientSex": "Z",
    "OtherPatientNames": "X",
    "OtherPatientIDsSequence": "X",
    "ReferencedPatientPhotoSequence": "X",
    "EthnicGroupCodeSequence": "X",
    "ResponsiblePerson": "X",
    "ResponsibleOrganization": "X",
    "PatientComments": "X",
    # Patient Demographic, Patient Identification, Patient Medical
    "PatientInsurancePlanCodeSequence": "X",
    "PatientPrimaryLanguageCodeSequence": "X",
    "PatientAddress": "X",
    "MilitaryRank": "X",
    "BranchOfService": "X",
    "CountryOfResidence": "X",
    "RegionOfResidence": "X",
    "PatientTelephoneNumbers": "X",
    "PatientTelecomInformation": "X",
    "PatientReligiousPreference": "X",
    "ConfidentialityConstraintOnPatientDataDescription": "X",
    "PatientBirthName": "X",
    "PatientMotherBirthName": "X",
    "SpecialNeeds": "X",
    # Clinical Trial Subject, Study and Series
    "ClinicalTrialSponsorName": "D",
    "ClinicalTrialProtocolID": "D",
    "ClinicalTrialProtocolName": "Z",
    "IssuerOfClinicalTrialProtocolID": "X",
    "OtherClinicalTrialProtocolIDsSequence": "X",
    "ClinicalTrialSiteID": "Z",
    "ClinicalTrialSiteName": "Z",
    "IssuerOfClinicalTrialSiteID": "X",
    "ClinicalTrialSubjectID": "D",
    "IssuerOfClinicalTrialSubjectID": "X",
    "ClinicalTrialSubjectReadingID": "D",
    "IssuerOfClinicalTrialSubjectReadingID": "X",
    "ClinicalTrialProtocolEthicsCommitteeName": "D",
    "ClinicalTrialProtocolEthicsCommitteeApprovalNumber": "X",
    "ClinicalTrialTimePointID": "Z",
    "ClinicalTrialTimePointDescription": "X",
    "IssuerOfClinicalTrialTimePointID": "X",
    "ClinicalTrialCoordinatingCenterName": "Z",
    "ClinicalTrialSeriesID": "X",
    "ClinicalTrialSeriesDescription": "X",
    "IssuerOfClinicalTrialSeriesID": "X",
    # General Study
    "StudyDate": "Z",
    "StudyTime": "Z",
    "AccessionNumber": "Z",
    "ReferringPhysicianName": "Z",
    "ReferringPhysicianIdentificationSequence": "X",
    "ConsultingPhysicianName": "Z",
    "ConsultingPhysicianIdentificationSequence": "X",
    "StudyDescription": "X",
    "PhysiciansOfRecord": "X",
    "PhysiciansOfRecordIdentificationSequence": "X",
    "NameOfPhysiciansReadingStudy": "X",
    "PhysiciansReadingStudyIdentificationSequence": "X",
    "ReferencedStudySequence": "X/Z",
    "StudyInstanceUID": "U",
    "StudyID": "Z",
    "RequestingService": "X",
    # Patient Study
    "AdmittingDiagnosesDescription": "X",
    "AdmittingDiagnosesCodeSequence": "X",
    "PatientAge": "X",
    "PatientSize": "X",
    "PatientWeight": "X",
    "MedicalAlerts": "X",
    "Allergies": "X",
    "Occupation": "X",
    "SmokingStatus": "X",
    "AdditionalPatientHistory": "X",
    "PregnancyStatus": "X",
    "LastMenstrualDate": "X",
    "PatientSexNeutered": "X/Z",
    "ReasonForVisit": "X",
    "ReasonForVisitCodeSequence": "X",
    "AdmissionID": "X",
    "IssuerOfAdmissionIDSequence": "X",
    "ServiceEpisodeID": "X",
    "ServiceEpisodeDescription": "X",
    "IssuerOfServiceEpisodeIDSequence": "X",
    "PatientState": "X",
    # General Series, request and procedure step attributes
    "SeriesDate": "X/D",
    "SeriesTime": "X/D",
    "SeriesDescription": "X",
    "PerformingPhysicianName": "X",
    "PerformingPhysicianIdentificationSequence": "X",
    "OperatorsName": "X/Z/D",
    "OperatorIdentificationSequence": "X/D",
    "ReferencedPerformedProcedureStepSequence": "X/Z/D",
    "ProtocolName": "X/D",
    "SeriesInstanceUID": "U",
    "PerformedProcedureStepStartDate": "X",
    "PerformedProcedureStepStartTime": "X",
    "PerformedProcedureStepEndDate": "X",
    "PerformedProcedureStepEndTime": "X",
    "PerformedProcedureStepID": "X",
    "PerformedProcedureStepDescription": "X",
    "RequestAttributesSequence": "X",
    "CommentsOnThePerformedProcedureStep": "X",
    "TreatmentSessionUID": "U",
    "RequestedProcedureID": "X",
    "ReasonForTheRequestedProcedure": "X",
    "ScheduledProcedureStepID": "X",
    "ScheduledProcedureStepDescription": "X",
    "PlacerOrderNumberImagingServiceRequest": "Z",
    "FillerOrderNumberImagingServiceRequest": "Z",
    # Frame of Reference, Synchronization
    "FrameOfReferenceUID": "U",
    "SynchronizationFrameOfReferenceUID": "U",
    # General Equipment (copied into the outputs' Contributing Equipment)
    "InstitutionName": "X/Z/D",
    "InstitutionAddress": "X",
    "InstitutionCodeSequence": "X/Z/D",
    "StationName": "X/Z/D",
    "InstitutionalDepartmentName": "X",
    "InstitutionalDepartmentTypeCodeSequence": "X",
    "DeviceSerialNumber": "X/Z/D",
    "DeviceUID": "U",
    "GantryID": "X",
    "UDISequence": "X",
    "ManufacturerDeviceClassUID": "U",
    "DateOfLastCalibration": "X",
    "TimeOfLastCalibration": "X",
    "DateOfManufacture": "X",
    "DateOfInstallation": "X",
    "StationAETitle": "X",
    "RetrieveAETitle": "X",
    # General Acquisition, General Image, General Reference, Contrast/Bolus
    "AcquisitionUID": "U",
    "AcquisitionDate": "X/Z",
    "AcquisitionDateTime": "X/Z/D",
    "AcquisitionTime": "X/Z",
    "IrradiationEventUID": "U",
    "ContentDate": "Z/D",
    "ContentTime": "Z/D",
    "ImageComments": "X",
    "IconImageSequence": "X",
    "ReferencedImageSequence": "X/Z/U*",
    "DerivationDescription": "X",
    "SourceImageSequence": "X/Z/U*",
    "ReferencedSOPInstanceUID": "U",
    "ContrastBolusAgent": "Z/D",
    "ContrastBolusStartTime": "X",
    "ContrastBolusStopTime": "X",
    "AcquisitionContextSequence": "X/Z",
    "AcquisitionContextDescription": "X",
    # CR and DX image, detector and generation
    "PlateID": "X",
    "AcquisitionDeviceProcessingDescription": "X/D",
    "CassetteID": "X",
    "DetectorID": "X/D",
    "DateOfLastDetectorCalibration": "X/D",
    "TimeOfLastDetectorCalibration": "X/D",
    "XRayDetectorID": "D",
    "CommentsOnRadiationDose": "X",
    "GeneratorID": "X",
    # Specimen (in the CT IOD)
    "ContainerIdentifier": "D",
    "IssuerOfTheContainerIdentifierSequence": "Z",
    "ContainerDescription": "X",
    # SOP Common (Contributing Equipment included)
    "InstanceCreationDate": "X/D",
    "InstanceCreationTime": "X/Z/D",
    "InstanceCreatorUID": "U",
    "InstanceCoercionDateTime": "X",
    "SOPInstanceUID": "U",
    "TimezoneOffsetFromUTC": "X",
    "SOPAuthorizationDateTime": "X",
    "OriginalAttributesSequence": "X",
    "InstanceOriginStatus": "X",
    "BarcodeValue": "X/Z",
    "DigitalSignaturesSequence": "X",
    "ContributionDateTime": "X",
    "ContributionDescription": "X",
    # Multi-frame functional groups, Segmentation, SR document (the outputs' own modules)
    "ConcatenationUID": "U",
    "DimensionOrganizationUID": "U",
    "FrameAcquisitionDateTime": "D",
    "FrameReferenceDateTime": "D",
    "FrameComments": "X",
    "TrackingUID": "U",
    "ContentCreatorName": "Z/D",
    "ContentCreatorIdentificationCodeSequence": "X",
    "ContentSequence": "D",
    "ObservationDateTime": "X/D",
    "ObservationUID": "U",
    "ReferencedFrameOfReferenceUID": "U",
    "UID": "U",
    "Date": "D",
    "DateTime": "D",
    "Time": "D",
    "ReferencedDateTime": "D",
    "PersonName": "D",
    "PersonIdentificationCodeSequence": "D",
    "PersonAddress": "X",
    "PersonTelephoneNumbers": "X",
    "VerifyingObserverSequence": "D",
    "VerifyingObserverName": "D",
    "VerifyingOrganization": "D",
    "VerificationDateTime": "D",
    "AuthorObserverSequence": "X",
    "ParticipantSequence": "X",
    "CustodialOrganizationSequence": "X",
    # retired or outside the image IODs, but common in modality headers
    "ReferringPhysicianAddress": "X",
    "ReferringPhysicianTelephoneNumbers": "X",
    "OtherPatientIDs": "X",
    "MedicalRecordLocator": "X",
    "EthnicGroup": "X",
    "StudyIDIssuer": "X",
    "ReasonForStudy": "X",
    "RequestingPhysician": "X",
    "RequestedProcedureDescription": "X/Z",
    "RequestedContrastAgent": "X",
    "StudyComments": "X",
    "ReferencedPatientAliasSequence": "X",
})  # fmt: skip

# Retain Longitudinal Temporal Information with Full Dates: the procedure's own dates and times
RETAINED_DATES = frozenset({
    "StudyDate", "StudyTime", "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime",
    "AcquisitionDateTime", "ContentDate", "ContentTime", "InstanceCreationDate", "InstanceCreationTime",
    "FrameAcquisitionDateTime", "FrameReferenceDateTime", "ObservationDateTime",
})  # fmt: skip
# type 2 in the SEG or SR: kept, empty, where the profile removes or empties them
MUST_CARRY_EMPTY = frozenset({
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
    "ReferringPhysicianName", "StudyID", "StudyDate", "StudyTime", "ContentCreatorName",
})  # fmt: skip
AUTHORED_TREE = "ContentSequence"  # the SR's content: calcscan's findings, nothing copied

_TAGS = MappingProxyType({tag_for_keyword(k): k for k in ACTIONS})
_TEXT_VRS = frozenset({"AE", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_KEEP, _EMPTY, _DELETE = "keep", "empty", "delete"


def retained(keyword: str) -> bool:
    """Kept by an option applied: a UID (Retain UIDs) or a procedure date (Full Dates)."""
    action = ACTIONS.get(keyword, "")
    return action == "U" or action.endswith("U*") or keyword in RETAINED_DATES


def method_codes() -> list[Dataset]:
    """DeidentificationMethodCodeSequence items: the profile, then each option applied."""
    items = []
    for value, meaning in (PROFILE_CODE, *OPTION_CODES):
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    return items


def describe() -> str:
    """One sentence for run.json and the reports: what was applied."""
    options = " and ".join(m.removesuffix(" Option") for _, m in OPTION_CODES)
    return f"{STANDARD} {PROFILE_NAME}, with the options {options}"


# --- DICOM datasets ----------------------------------------------------------------------


def clean_dataset(ds: Dataset, authored: Mapping[str, Collection[str]] = MappingProxyType({})) -> None:
    """Apply the profile to `ds` in place, at every nesting depth: private attributes and
    every attribute of the table that no option retains are removed, or emptied where the
    SEG or SR must carry them; every other person name is emptied.

    `authored`: keyword -> values calcscan itself writes there (its SEG's series description,
    the SEG equipment's serial number "0"): those are no input's and stay. The SR content
    tree is calcscan's own and is left whole."""
    ds.remove_private_tags()
    _clean_level(ds, authored)


def _clean_level(ds: Dataset, authored: Mapping[str, Collection[str]]) -> None:
    for tag in list(ds.keys()):
        element = ds[tag]
        fate = _fate(element, authored)
        if fate == _DELETE:
            del ds[tag]
        elif fate == _EMPTY:
            element.value = [] if element.VR == "SQ" else ""
        elif element.VR == "SQ" and element.keyword != AUTHORED_TREE:
            for item in element.value:
                _clean_level(item, authored)


def _fate(element: DataElement, authored: Mapping[str, Collection[str]]) -> str:
    keyword = element.keyword
    if keyword not in ACTIONS:  # a person name the table misses identifies a person all the same
        person = element.VR == "PN" and keyword != "PatientName" and not element.is_empty
        return _EMPTY if person else _KEEP
    if retained(keyword) or keyword == AUTHORED_TREE or element.is_empty:
        return _KEEP
    if element.VR != "SQ" and str(element.value) in authored.get(keyword, ()):
        return _KEEP
    return _EMPTY if keyword in MUST_CARRY_EMPTY else _DELETE


# --- identifiers to scrub from free text ---------------------------------------------------

_SCRUBBED_TAGS = frozenset(tag for tag, keyword in _TAGS.items() if not retained(keyword))

MIN_TEXT_LENGTH = 4  # shorter values ("CT1", "M", "ANON") occur in any text by chance
MIN_DIGITS = 6  # a shorter number is a slice, count or series number as often as an ID
_NAME_SEPARATORS = (" ", "_", "^", "-", ".", ",", ", ")
# words of calcscan's own report text and of common series and study descriptions: a value
# made of these alone ("CHEST", "CT ABDOMEN") is not worth erasing those words everywhere
_COMMON_WORDS = """
head brain skull orbit face neck cspine chest thorax lung lungs heart tspine breast abdomen abd
lspine spine kidney pelvis hip hips shoulder clavicle humerus arm arms elbow forearm wrist hand
hands finger femur thigh knee leg legs tibia ankle foot feet toe calcaneus extremity upper lower
whole body ct cr dx mr pt us xa seg sr axial coronal sagittal scan study series image images
routine contrast with without w wo and of the bone soft tissue standard window recon thin thick
mm helical spiral low dose high resolution ap pa lat view views bilateral calcscan deposit
deposits calcification calcifications calcinosis report radiograph
"""
_REPORT_WORDS = frozenset(_COMMON_WORDS.split()) | frozenset(
    w
    for vocabulary in (REGIONS, TISSUES, LATERALITIES, SERIES_KINDS, PATTERN_TYPES, VERDICTS)
    for term in vocabulary
    for w in term.split("_")
)


def profile_identifiers(ds: Dataset) -> tuple[str, ...]:
    """Every text value of `ds` that the profile removes or replaces (names, IDs, institution,
    station, serial numbers, descriptions, the birth date...), with the name spellings a
    folder may use ("DOE_JANE", "Jane Doe"): what must not reappear in any output's text.

    Left out: what an option retains (UIDs, the procedure's dates: a value equal to one of
    them stays too, or the study date would go), coded and numeric values (sex, age, size),
    and values too short or too common to be told from report text (see _worth_scrubbing)."""
    kept = {str(ds.get(k, "") or "") for k in RETAINED_DATES}
    found: list[str] = []
    for tag in sorted(_SCRUBBED_TAGS.intersection(ds.keys())):
        found.extend(_values(ds, tag, _TAGS[tag]))
    return tuple(dict.fromkeys(v for v in found if v not in kept and _worth_scrubbing(v)))


def file_identifiers(paths: Iterable[Path]) -> set[str]:
    """profile_identifiers of the headers of `paths` (unreadable files are skipped: they
    were skipped as inputs too)."""
    found: set[str] = set()
    for path in paths:
        try:
            found.update(profile_identifiers(pydicom.dcmread(path, stop_before_pixels=True)))
        except Exception as exc:
            log.debug("%s not read for de-identification: %s", path, exc)
    return found


def _values(ds: Dataset, tag: int, keyword: str) -> list[str]:
    """The text values of one attribute: its values (with name spellings for a person name),
    or for a sequence every text value in its items."""
    try:
        element = ds[tag]
        if element.VR == "SQ":
            return [v for item in element.value for v in _item_texts(item)]
        if keyword == "PatientBirthDate":  # the one date that is an identifier, not a time point
            return _strings(element)
        if element.VR not in _TEXT_VRS:
            return []
        values = _strings(element)
        return [s for v in values for s in name_spellings(v)] if element.VR == "PN" else values
    except Exception as exc:  # a malformed value must not stop discovery or the outputs
        log.debug("%s not read for de-identification: %s", keyword, exc)
        return []


def _item_texts(item: Dataset, depth: int = 0) -> Iterator[str]:
    for element in item:
        if element.VR == "SQ" and depth < 2:
            for nested in element.value:
                yield from _item_texts(nested, depth + 1)
        elif element.VR in _TEXT_VRS:
            yield from _strings(element)


def _strings(element: DataElement) -> list[str]:
    value = element.value
    values = value if isinstance(value, list | tuple | MultiValue) else [value]
    return [str(v).strip() for v in values if v is not None and str(v).strip()]


def name_spellings(name: str) -> list[str]:
    """A person name as written, and the ways a folder or a typist writes it: family and
    given name joined by a space, underscore, caret... in either order. Single parts are not
    included: a patient called Hip or Stone must not erase every hip and stone."""
    parts = [p.strip() for p in name.split("^") if p.strip()]
    spellings = [name, " ".join(parts)]
    if len(parts) >= 2:
        pairs = ((parts[0], parts[1]), (parts[1], parts[0]))
        spellings += [sep.join(pair) for pair in pairs for sep in _NAME_SEPARATORS]
    return list(dict.fromkeys(spellings))


def _worth_scrubbing(value: str) -> bool:
    """Long enough not to occur by chance, and not made only of words the reports use."""
    if len(value) < MIN_TEXT_LENGTH:
        return False
    if value.isdigit():
        return len(value) >= MIN_DIGITS
    words = [w for w in _words(value.lower()) if not (w.isdigit() and len(w) < MIN_DIGITS)]
    return any(w not in _REPORT_WORDS for w in words)


def _words(text: str) -> Iterable[str]:
    word = []
    for char in text:
        if char.isalnum():
            word.append(char)
        elif word:
            yield "".join(word)
            word = []
    if word:
        yield "".join(word)
