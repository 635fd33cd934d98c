"""Typed objects that the stages hand to each other.

discover -> (Discovery: studies, series, stacks of header records)
load     -> (CTVolume | Radiograph: pixels with exact geometry)

Coordinates: every `*_lps_mm` value and every affine maps into DICOM patient coordinates
(LPS: +x towards the patient's left, +y posterior, +z head), in millimetres.
Voxel indices of a CT volume are (i, j, k) = (column, row, slice) and its numpy array is
indexed [k, j, i] = (z, y, x).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.vocab import ContrastPhase, IncidentalKind, Region, SeriesKind

if TYPE_CHECKING:
    import SimpleITK as sitk

    from pipeline.segment.grid import WorkGrid

Vec3 = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file that was not used, and the reason a user can act on."""

    path: Path
    reason: str


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """Geometry and value mapping of one 2D frame.

    A classic CT file has one frame; an enhanced multi-frame CT has one per frame, read from
    its shared and per-frame functional groups. Treating both alike lets one planner sort,
    split and check every kind of CT stack.
    """

    index: int  # 0-based frame number inside its file
    position: Vec3 | None  # ImagePositionPatient of the first pixel's centre (LPS mm)
    orientation: tuple[float, float, float, float, float, float] | None  # row then column cosines
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns) mm, as DICOM
    slice_thickness: float | None
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    rescale_type: str | None = None
    temporal_index: int | None = None  # tells acquisitions at one position apart
    stack_id: str | None = None
    frame_type: tuple[str, ...] = ()
    geometry_problem: str | None = None  # why its position/orientation/spacing is unusable
    rescale_problem: str | None = None  # why its stored values cannot be rescaled
    repairs: tuple[str, ...] = ()  # values calcscan fixed, each a warning

    @property
    def problem(self) -> str | None:
        """Why this frame cannot be a slice of a CT volume, else None."""
        return self.geometry_problem or self.rescale_problem


@dataclass(frozen=True, slots=True)
class InstanceHeader:
    """What discovery keeps of one DICOM file: its header, never its pixels."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str | None
    modality: str
    patient_id: str | None
    study_uid: str
    study_date: str | None
    accession_number: str | None
    study_description: str | None
    series_uid: str
    series_number: int | None
    series_description: str | None
    frame_of_reference_uid: str | None
    instance_number: int | None
    acquisition_number: int | None
    image_type: tuple[str, ...]
    rows: int | None
    columns: int | None
    samples_per_pixel: int
    number_of_frames: int
    has_pixel_data: bool
    body_part_examined: str | None
    view_position: str | None
    laterality: str | None
    kvp: float | None
    contrast_agent: str | None
    frames: tuple[FrameHeader, ...]
    # every value that identifies the patient (name and its parts, IDs, birth date, accession
    # number): what --deidentify must keep out of every output
    patient_identifiers: tuple[str, ...] = ()
    derived_ids: tuple[str, ...] = ()  # identifiers calcscan derived (pipeline.dicom.identity)
    problem: str | None = None  # why the file's pixels cannot be used at all, else None
    patient_key: str = ""  # PatientID, else PatientName: tells patients under one study apart
    notes: tuple[str, ...] = ()  # header values repaired or assumed, each a warning

    @property
    def is_multiframe(self) -> bool:
        return self.number_of_frames > 1


@dataclass(frozen=True, slots=True)
class SliceRef:
    """One 2D image of a stack: a frame of an instance."""

    instance: InstanceHeader
    frame: FrameHeader


@dataclass
class StackPlan:
    """How a CT stack becomes a volume: slice order, grid and what had to be fixed.

    Made from headers alone, so `calcscan inspect` shows exactly the geometry that loading
    will produce. `sources[k]` and `weights[k]` give, for output slice k, the source slices
    (indices into `slices`) and the linear interpolation weights; a slice copied as it is
    has one source with weight 1.
    """

    slices: list[SliceRef]
    rows: int
    columns: int
    affine: np.ndarray  # 4x4, voxel (i, j, k) -> LPS mm; third column may be sheared (tilt)
    n_output: int
    sources: list[tuple[int, ...]]
    weights: list[tuple[float, ...]]
    interpolated: tuple[int, ...] = ()  # output slices made by interpolation
    orientation_label: str = "axial"  # axial | coronal | sagittal | oblique
    tilt_deg: float = 0.0  # angle between the slice step and the slice normal
    warnings: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(z, y, x) shape of the volume this plan produces."""
        return (self.n_output, self.rows, self.columns)

    @property
    def spacing(self) -> Vec3:
        """Voxel spacing (x, y, z) in mm: column step, row step, slice step."""
        norms = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(norms[0]), float(norms[1]), float(norms[2]))

    @property
    def origin(self) -> Vec3:
        return tuple(float(v) for v in self.affine[:3, 3])  # type: ignore[return-value]

    @property
    def direction(self) -> np.ndarray:
        """3x3 unit column vectors of the i, j, k axes in LPS (k is sheared under tilt)."""
        return self.affine[:3, :3] / np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def extent_lps(self) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) LPS mm over the centres of the volume's corner voxels."""
        nz, ny, nx = self.shape
        corners = np.array([[i, j, k, 1.0] for i in (0, nx - 1) for j in (0, ny - 1) for k in (0, nz - 1)])
        lps = (self.affine @ corners.T).T[:, :3]
        return lps.min(axis=0), lps.max(axis=0)


@dataclass
class Stack:
    """A geometrically consistent set of images inside one series: the unit of analysis.

    A series splits into several stacks when orientation, in-plane size, pixel spacing or
    frame of reference differ, when it holds several acquisitions at the same positions, or
    when a gap is too large to interpolate. Radiographs are one stack per image.
    """

    series_uid: str
    index: int  # 0-based within its series
    modality: str
    kind: SeriesKind
    reason: str | None  # why it is not analysed (kind "other"), else None
    slices: list[SliceRef]
    plan: StackPlan | None = None  # CT stacks with geometry
    warnings: list[str] = field(default_factory=list)
    # images meant for analysis that cannot be analysed (no usable slice, no geometry):
    # the stack is "failed" with this reason rather than skipped
    failure: str | None = None
    # (file, reason) of images of this stack's series left out of it (bad slices)
    dropped: list[SkippedFile] = field(default_factory=list)

    @property
    def instances(self) -> list[InstanceHeader]:
        """Distinct instances, in slice order."""
        seen: dict[str, InstanceHeader] = {}
        for s in self.slices:
            seen.setdefault(s.instance.sop_instance_uid, s.instance)
        return list(seen.values())

    @property
    def n_instances(self) -> int:
        return len(self.instances)

    @property
    def label(self) -> str:
        """Series UID, with the stack number when the series was split."""
        return f"{self.series_uid}#{self.index + 1}"


@dataclass
class Series:
    uid: str
    modality: str
    number: int | None
    description: str | None
    stacks: list[Stack]


@dataclass
class Study:
    uid: str
    patient_id: str | None
    date: str | None
    accession_number: str | None
    description: str | None
    series: list[Series]
    patient_identifiers: frozenset[str] = frozenset()  # see InstanceHeader.patient_identifiers
    # image files of this study that cannot be used at all (damaged, inconsistent), with why
    rejected: list[SkippedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # about the study as a whole
    derived_ids: tuple[str, ...] = ()  # identifiers calcscan derived (pipeline.dicom.identity)
    # "-patient2"...: a study UID shared by several patients is split, each part its own folder
    output_suffix: str = ""

    @property
    def stacks(self) -> list[Stack]:
        return [st for se in self.series for st in se.stacks]

    @property
    def files(self) -> list[Path]:
        """Every file of the study, used or not, in a stable order."""
        found = [i.path for st in self.stacks for i in st.instances]
        found += [d.path for st in self.stacks for d in st.dropped]
        found += [r.path for r in self.rejected]
        return sorted(set(found), key=str)


@dataclass
class Discovery:
    """Everything found under the input paths, grouped patient -> study -> series -> stack."""

    roots: list[Path]
    studies: list[Study]
    skipped: list[SkippedFile]
    n_files: int
    warnings: list[str] = field(default_factory=list)

    @property
    def all_skipped(self) -> list[SkippedFile]:
        """Files not used, whether or not they belong to a study (rejected and dropped images)."""
        found = list(self.skipped)
        for study in self.studies:
            found += study.rejected
            found += [d for st in study.stacks for d in st.dropped]
        return found


@dataclass
class CTVolume:
    """A CT stack in Hounsfield units with its exact geometry.

    `hu` is (z, y, x); int16 when every slice's rescale is integral, else float32. Padding
    and out-of-field-of-view voxels are set to air. `affine` maps (i, j, k) to LPS mm.
    """

    hu: np.ndarray
    affine: np.ndarray
    study_uid: str
    series_uid: str
    stack_label: str
    frame_of_reference_uid: str | None
    kvp: float | None
    body_part_examined: str | None
    contrast_agent: str | None
    slice_thickness: float | None
    interpolated_slices: tuple[int, ...] = ()
    source_files: tuple[Path, ...] = ()
    tilt_deg: float = 0.0
    orientation_label: str = "axial"
    warnings: list[str] = field(default_factory=list)
    file_problems: list[SkippedFile] = field(default_factory=list)
    # how the array's axes relate to the series as stored, when the analysis reordered them
    # into patient order (pipeline.load.canonical.AxisMap); None: stored order
    axis_map: Any = None

    @property
    def spacing(self) -> Vec3:
        """(x, y, z) voxel spacing in mm."""
        n = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(n[0]), float(n[1]), float(n[2]))

    @property
    def origin(self) -> Vec3:
        return tuple(float(v) for v in self.affine[:3, 3])  # type: ignore[return-value]

    @property
    def direction(self) -> np.ndarray:
        return self.affine[:3, :3] / np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def voxel_volume_mm3(self) -> float:
        """Exact under shear: the determinant, not the product of spacings."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """(N, 3) voxel indices (i, j, k) -> (N, 3) LPS mm."""
        ijk = np.atleast_2d(np.asarray(ijk, dtype=float))
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def lps_to_index(self, xyz: np.ndarray) -> np.ndarray:
        """(N, 3) LPS mm -> (N, 3) continuous voxel indices (i, j, k)."""
        xyz = np.atleast_2d(np.asarray(xyz, dtype=float))
        return (xyz - self.affine[:3, 3]) @ np.linalg.inv(self.affine[:3, :3]).T

    @cached_property
    def image(self) -> sitk.Image:
        """The same volume as a SimpleITK image (a copy, made on first use)."""
        import SimpleITK as sitk

        img = sitk.GetImageFromArray(self.hu)
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(self.direction.flatten().tolist())
        return img


@dataclass
class Radiograph:
    """A projection radiograph, after the Modality LUT, dense (bone, calcium) bright.

    `pixel_spacing_mm` is (row, column) spacing at the patient when known; None when the file
    gives none or gives 0.0, in which case sizes must be reported in pixels.
    """

    pixels: np.ndarray  # (rows, columns) float32
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    stack_label: str
    path: Path
    pixel_spacing_mm: tuple[float, float] | None
    spacing_source: str  # which attribute the spacing came from, or why it is unknown
    body_part_examined: str | None
    view_position: str | None
    laterality: str | None  # "L", "R", "B" or None as the file says
    patient_orientation: tuple[str, str] | None  # direction of rows and columns, e.g. ("L", "F")
    inverted: bool  # MONOCHROME1 input, inverted so that dense is bright
    bits_stored: int | None
    warnings: list[str] = field(default_factory=list)
    # why `pixel_spacing_mm` is what it is (which DICOM PS3.3 rule chose it), for the report
    spacing_note: str = ""

    @property
    def spacing_known(self) -> bool:
        return self.pixel_spacing_mm is not None


@dataclass
class Deposit:
    """One calcific clump found in a CT volume, measured; sites are filled in by mapping.

    `label` is its value in the segmentation's label map. Coordinates: `centroid_lps_mm` in
    DICOM patient coordinates (LPS, mm); `centroid_ijk` and `bbox_ijk` in voxel indices
    (i = column, j = row, k = slice) of the volume it was found in.
    """

    label: int
    series_uid: str
    stack_label: str
    n_voxels: int
    volume_mm3: float
    max_hu: float
    mean_hu: float
    agatston: float
    mass_mg: float | None
    equivalent_diameter_mm: float
    largest_axial_area_mm2: float
    centroid_ijk: Vec3
    centroid_lps_mm: Vec3
    bbox_ijk: tuple[tuple[int, int, int], tuple[int, int, int]]  # inclusive min, exclusive max
    lobes: int
    touches_bone: bool = False
    id: str = ""  # "D1", "D2"... unique within the study, given when the study is assembled
    region: str = "unknown"
    laterality: str = "unknown"
    tissue: str = "unknown"
    site_evidence: list[str] = field(default_factory=list)
    # centroid and box in the voxel indices of the series as stored, when the analysed
    # volume's axes were reordered (see CTVolume.axis_map); None: the same as above
    stored_centroid_ijk: Vec3 | None = None
    stored_bbox_ijk: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None


@dataclass(frozen=True)
class ContrastStatus:
    """Intravenous contrast as measured in the blood pool (aorta, heart), the header a hint.

    `source` says where the decision came from: "image", "header" (the image could not
    tell, e.g. no blood pool in view) or "both" (they agree)."""

    present: bool
    phase: ContrastPhase
    blood_pool_hu: float | None  # median HU of the blood pool found, None: none in view
    source: str
    why: str = ""


@dataclass(frozen=True)
class Excluded:
    """A part of a series not searched, and why (never silent): metal and its streaks..."""

    what: str
    slices: tuple[int, ...]  # 0-based slice indices of the analysed volume that it touches
    volume_mm3: float
    reason: str = ""


@dataclass
class Coverage:
    """What one analysed series shows: body parts (from the image content, the header as a
    hint), contrast, and what was left out of the search."""

    body_parts: list[Region]
    contrast: ContrastStatus | None = None
    excluded: list[Excluded] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # why each body part was named

    def to_json(self) -> dict[str, Any]:
        c = self.contrast
        return {
            "body_parts": list(self.body_parts),
            "contrast": None
            if c is None
            else {
                "present": c.present,
                "phase": c.phase,
                "blood_pool_hu": None if c.blood_pool_hu is None else round(c.blood_pool_hu, 1),
                "source": c.source,
                "why": c.why,
            },
            "excluded": [
                {
                    "what": e.what,
                    "slices": list(e.slices),
                    "volume_mm3": round(e.volume_mm3, 1),
                    "reason": e.reason,
                }
                for e in self.excluded
            ],
            "evidence": list(self.evidence),
        }


@dataclass
class Incidental:
    """A calcification a reader expects that is not calcinosis (calcified costal or
    laryngeal cartilage, physiologic intracranial calcification, a phlebolith): listed, never
    a deposit or pattern evidence."""

    kind: IncidentalKind
    series_uid: str
    centroid_lps_mm: Vec3
    volume_mm3: float
    max_hu: float
    reason: str
    id: str = ""  # "I1", "I2"... unique within the study


@dataclass
class Segmentation:
    """What the CT segmentation stage found in one volume, and how.

    `labels` is a label map on the volume's grid (0 = background, n = Deposit with label n),
    in the smallest unsigned type that holds the labels (uint8 for up to 255 deposits).
    `masks` holds the anatomical masks later stages reuse (body, bone, lungs, metal, blood
    pool), each boolean on the coarser working grid `grid` (grid.up() maps them back).
    """

    volume: CTVolume
    deposits: list[Deposit]
    labels: np.ndarray
    masks: dict[str, np.ndarray]  # on `grid`'s working grid
    grid: WorkGrid
    threshold_hu: float
    noise_sigma_hu: float
    contrast_enhanced: bool
    warnings: list[str] = field(default_factory=list)
    # block-mean HU on `grid`'s working grid (float32), computed once by the segmentation
    # and read again by site mapping; None: not kept (grid.reduce(volume.hu) gives it)
    mean_hu: np.ndarray | None = None
    coverage: Coverage | None = None
    incidental: list[Incidental] = field(default_factory=list)


@dataclass
class RadiographDeposit:
    """One compact dense opacity found on a radiograph, measured in the image plane.

    Coordinates are pixel indices of the stored image: `centroid_px` = (row, column),
    `bbox_px` = ((row0, col0), (row1, col1)) inclusive min, exclusive max. Sizes are in mm
    when the image's pixel spacing is known, else None (the pixel sizes are always given).
    """

    label: int  # its value in RadiographFindings.labels
    series_uid: str
    stack_label: str
    sop_instance_uid: str
    centroid_px: tuple[float, float]
    bbox_px: tuple[tuple[int, int], tuple[int, int]]
    area_px: int
    area_mm2: float | None
    equivalent_diameter_px: float
    equivalent_diameter_mm: float | None
    contrast: float  # peak signal above the local soft-tissue background, in noise SDs (CNR)
    id: str = ""
    region: str = "unknown"
    laterality: str = "unknown"
    tissue: str = "unknown"
    site_evidence: list[str] = field(default_factory=list)


@dataclass
class RadiographFindings:
    """What the radiograph stage found on one image, and the masks it judged them by.

    `labels` is int32 (rows, columns): 0 background, n = RadiographDeposit with label n.
    """

    image: Radiograph
    deposits: list[RadiographDeposit]
    labels: np.ndarray
    noise_sd: float
    warnings: list[str] = field(default_factory=list)


@dataclass
class RadiographComparison:
    """Which CT deposits one radiograph of the same study shows, and which it does not.

    CT finds calcinosis in radiographically normal areas; saying so per deposit tells the
    reader what the film alone would have missed. `matched` maps CT deposit id -> the
    radiograph deposit id at the same place; `not_shown` are CT deposits inside the film's
    field with no opacity there; `outside_field` could not be on the film at all.
    """

    sop_instance_uid: str
    series_uid: str
    method: str  # how CT and film were put in register, or why they could not be
    matched: dict[str, str] = field(default_factory=dict)
    not_shown: list[str] = field(default_factory=list)
    outside_field: list[str] = field(default_factory=list)
    unmatched_on_film: list[str] = field(default_factory=list)  # film opacities with no CT deposit
    statement: str = ""


@dataclass
class SeriesOutcome:
    """What happened to one stack of a study in a run (a row of report.json's "series")."""

    stack: Stack
    series_number: int | None
    description: str | None
    status: str  # analyzed | skipped | failed
    reason: str | None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # failed because of the input (unusable images), not because a stage of calcscan broke
    input_problem: bool = False
    # radiographs: the pixel spacing used and why (pipeline.load.radiograph.calibration_of)
    calibration: dict[str, object] | None = None


@dataclass
class PatternResult:
    """How well a study matches the documented site pattern of one calcinosis type."""

    type: str  # metastatic | tumoral | dystrophic | calcific_tendinitis
    verdict: str  # consistent | possible | unlikely
    score: float  # 0..1, ranks the patterns of one study
    evidence: list[str] = field(default_factory=list)  # deposit ids
    reasons: list[str] = field(default_factory=list)


@dataclass
class StudyResult:
    """Everything a run learned about one study; the reporting stage renders it."""

    study: Study
    series: list[SeriesOutcome]
    deposits: list[Deposit]
    segmentations: list[Segmentation] = field(default_factory=list)
    radiograph_findings: list[RadiographFindings] = field(default_factory=list)
    comparisons: list[RadiographComparison] = field(default_factory=list)
    patterns: list[PatternResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    used_files: list[Path] = field(default_factory=list)  # files whose images were analysed
    unused_files: list[SkippedFile] = field(default_factory=list)  # the study's other files, with why
    incidental: list[Incidental] = field(default_factory=list)  # numbered I1, I2... over the study

    @property
    def coverage(self) -> dict[str, Coverage]:
        """Series instance UID -> what that analysed series shows."""
        return {s.volume.series_uid: s.coverage for s in self.segmentations if s.coverage is not None}

    @property
    def analysed(self) -> bool:
        return any(s.status == "analyzed" for s in self.series)

    @property
    def failed(self) -> bool:
        return any(s.status == "failed" for s in self.series)

    @property
    def radiographs(self) -> list[Radiograph]:
        """The analysed films (a film whose analysis failed is a failed series, not here)."""
        return [f.image for f in self.radiograph_findings]

    @property
    def radiograph_deposits(self) -> list[RadiographDeposit]:
        return [d for f in self.radiograph_findings for d in f.deposits]
