"""Talking to PACS: pull studies over DICOMweb, receive them over DICOM, send results back.

Each module stands alone so that the batch engine and the command line import only what they
use: `targets` (send SEG/SR with STOW-RS or C-STORE), `dicomweb_source` (QIDO-RS + WADO-RS
pull into a cache), `receiver` (a C-STORE SCP that hands over each study once it is quiet).
"""
