"""Discovery stage: find every DICOM file under the inputs and group it, reading headers only.

Pixels are read later, by the load stage, only for the stacks that are analysed. Every file
that is not used is listed with its reason; nothing here raises on bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from pipeline.config import Config, LoaderConfig
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
from pipeline.discover.group import group_studies
from pipeline.discover.walk import iter_files, missing_roots
from pipeline.models import Discovery, InstanceHeader, SkippedFile

log = logging.getLogger(__name__)

__all__ = ["discover"]


def discover(paths: Sequence[Path | str], config: Config | LoaderConfig | None = None) -> Discovery:
    """Read the header of every file under `paths` and group them into studies."""
    cfg = _loader_config(config)
    roots = [Path(p) for p in paths]
    skipped: list[SkippedFile] = missing_roots(roots)
    warnings: list[str] = []
    instances: list[InstanceHeader] = []
    n_files = 0
    for path in iter_files(roots, cfg.follow_symlinks, skipped):
        n_files += 1
        try:
            ds, has_pixels = read_header(path)
            if sop_class_of(ds) == MEDIA_STORAGE_DIRECTORY:
                note, missing = dicomdir_summary(path, ds)
                skipped.append(SkippedFile(path, note))
                warnings.extend(missing)
                continue
            if is_own_output(ds):
                skipped.append(SkippedFile(path, "calcscan's own SEG/SR of an earlier run: not an input"))
                continue
            inst = instance_header(path, ds, has_pixels)
        except HeaderProblem as exc:
            skipped.append(SkippedFile(path, str(exc)))
            continue
        if needs_pixels(inst) and not has_pixels:
            skipped.append(
                SkippedFile(
                    path,
                    f"{inst.modality or 'image'} file without pixel data (header only, or cut off before it)",
                )
            )
            continue
        instances.append(inst)
    instances = _drop_duplicate_instances(instances, skipped)
    log.info("discovered %d DICOM instances in %d files", len(instances), n_files)
    return Discovery(roots, group_studies(instances, cfg), skipped, n_files, warnings)


def _loader_config(config: Config | LoaderConfig | None) -> LoaderConfig:
    if config is None:
        return LoaderConfig()
    return config.loader if isinstance(config, Config) else config


def _drop_duplicate_instances(
    instances: list[InstanceHeader], skipped: list[SkippedFile]
) -> list[InstanceHeader]:
    """The same SOP instance in two files (a copy) is used once."""
    first: dict[str, InstanceHeader] = {}
    for inst in instances:
        kept = first.setdefault(inst.sop_instance_uid, inst)
        if kept is not inst:
            skipped.append(
                SkippedFile(
                    inst.path, f"same SOP Instance UID as {kept.path} (another copy of that image): used once"
                )
            )
    return list(first.values())
