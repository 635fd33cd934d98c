"""Discovery stage: find every DICOM file under the inputs and group it, reading headers only.

Pixels are read later, by the load stage, only for the stacks that are analysed. Every file
that is not used is listed with its reason; nothing here raises on bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pipeline.config import Config, LoaderConfig
from pipeline.dicom.checks import PixelDataInfo
from pipeline.dicom.header import (
    MEDIA_STORAGE_DIRECTORY,
    HeaderProblem,
    instance_header,
    is_own_output,
    read_header,
    sop_class_of,
)
from pipeline.discover.classify import needs_pixels
from pipeline.discover.dicomdir import dicomdir_summary
from pipeline.discover.duplicates import drop_duplicate_instances
from pipeline.discover.group import group_studies
from pipeline.discover.walk import FileWalk, missing_roots
from pipeline.models import Discovery, InstanceHeader, SkippedFile

log = logging.getLogger(__name__)

__all__ = ["discover"]


def discover(paths: Sequence[Path | str], config: Config | LoaderConfig | None = None) -> Discovery:
    """Read the header of every file under `paths` and group them into studies.

    Every entry found ends up either in a study (usable, or rejected with its reason) or in
    `Discovery.skipped` with its reason; nothing raises on bad input."""
    cfg = _loader_config(config)
    roots = [Path(p) for p in paths]
    skipped: list[SkippedFile] = missing_roots(roots)
    warnings: list[str] = []
    instances: list[InstanceHeader] = []
    walk = FileWalk(roots, cfg.follow_symlinks, skipped)
    for path in walk:
        try:
            inst = _read_one(path, skipped, warnings)
        except Exception:  # a header no check foresaw must not stop the batch
            log.debug("%s: unexpected header failure", path, exc_info=True)
            inst = None
            skipped.append(SkippedFile(path, "header could not be interpreted (malformed DICOM)"))
        if inst is not None:
            instances.append(inst)
    instances = drop_duplicate_instances(instances, skipped)
    log.info("discovered %d DICOM instances in %d files", len(instances), walk.n_found)
    return Discovery(roots, group_studies(instances, cfg), skipped, walk.n_found, warnings)


def _read_one(path: Path, skipped: list[SkippedFile], warnings: list[str]) -> InstanceHeader | None:
    """The file's header record (with `problem` set when its images cannot be used), or None
    when it is listed in `skipped` as not a usable DICOM instance at all."""
    try:
        ds, pixels = read_header(path)
    except HeaderProblem as exc:
        return _rejected(path, exc, skipped)
    if sop_class_of(ds) == MEDIA_STORAGE_DIRECTORY:
        note, missing = dicomdir_summary(path, ds)
        skipped.append(SkippedFile(path, note))
        warnings.extend(missing)
        return None
    if is_own_output(ds):
        skipped.append(SkippedFile(path, "calcscan's own SEG/SR of an earlier run: not an input"))
        return None
    try:
        inst = instance_header(path, ds, pixels)
    except HeaderProblem as exc:
        skipped.append(SkippedFile(path, str(exc)))
        return None
    if not needs_pixels(inst):  # listed, never read: its pixel module does not matter
        return replace(inst, problem=None) if inst.problem else inst
    if not inst.has_pixel_data and inst.problem is None:
        what = inst.modality or "image"
        inst = replace(inst, problem=f"{what} file without pixel data (header only, or cut off before it)")
    return inst


def _rejected(path: Path, exc: HeaderProblem, skipped: list[SkippedFile]) -> InstanceHeader | None:
    """A file whose header was read but whose data is damaged stays with its study (so a
    study of only damaged images is a failed study, not a missing one)."""
    if exc.dataset is not None:
        try:
            inst = instance_header(path, exc.dataset, PixelDataInfo(present=False))
            if needs_pixels(inst):
                return replace(inst, problem=str(exc))
        except Exception:
            log.debug("%s: header of a damaged file not usable", path, exc_info=True)
    skipped.append(SkippedFile(path, str(exc)))
    return None


def _loader_config(config: Config | LoaderConfig | None) -> LoaderConfig:
    if config is None:
        return LoaderConfig()
    return config.loader if isinstance(config, Config) else config
