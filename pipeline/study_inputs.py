"""What a user hands over beside the DICOM studies: anatomy label maps and clinical context.

`--anatomy` is one label map (NIfTI, TotalSegmentator multilabel output) for a run of one
study, or a folder of them named by StudyInstanceUID (`<uid>.nii.gz`, also `.nii`), each
with its label names beside it. `--clinical` is a YAML or CSV file of per-study context.
Both are read and checked before any study is analysed, so a bad file is a usage error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.clinical import ClinicalContext, ClinicalIndex, load_clinical
from pipeline.errors import UsageError
from pipeline.models import Study

_NIFTI_SUFFIXES = (".nii.gz", ".nii")


@dataclass
class StudyInputs:
    """Extra inputs for the studies of a run (None: not given)."""

    anatomy: Path | None = None
    clinical: ClinicalIndex | None = None

    @classmethod
    def read(cls, anatomy: Path | None, clinical: Path | None) -> StudyInputs:
        if anatomy is not None and not anatomy.exists():
            raise UsageError(f"--anatomy {anatomy}: no such file or folder")
        return cls(anatomy, load_clinical(clinical) if clinical is not None else None)

    def label_map_for(self, study: Study, n_studies: int) -> Path | None:
        """The label map for `study`: the one file given (for a single study), or
        `<StudyInstanceUID>.nii.gz` in the folder given."""
        if self.anatomy is None:
            return None
        if self.anatomy.is_file():
            return self.anatomy if n_studies == 1 else None
        for suffix in _NIFTI_SUFFIXES:
            path = self.anatomy / f"{study.uid}{suffix}"
            if path.is_file():
                return path
        return None

    def clinical_for(self, study: Study) -> ClinicalContext | None:
        if self.clinical is None:
            return None
        return self.clinical.lookup(study.uid, study.accession_number, study.patient_id)
