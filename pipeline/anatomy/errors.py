"""Errors of the site-mapping stage that carry a message meant for the user."""

from pipeline.errors import CalcscanError


class LabelMapError(CalcscanError):
    """An organ label map (NIfTI or DICOM SEG) that cannot be used: the message names the
    file and what is wrong with it, so the user can fix or drop it."""
