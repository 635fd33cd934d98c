"""calcscan: finds soft-tissue calcifications (calcinosis) in CT and radiographs.

Stages, data flowing one way: discover -> load -> segment -> map sites -> report.
Patient coordinates are DICOM LPS in millimetres everywhere (+x is the patient's left).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("calcscan")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
