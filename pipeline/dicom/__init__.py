"""Low-level DICOM helpers shared by the stages: reading headers, writing files."""
