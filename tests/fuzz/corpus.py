"""The corpus generator: N mutant studies from the seeds, the same bytes for the same seed.

Layout, under the root the caller gives:

    corpus/<index>-<family>/...   one folder per mutant study (its files, junk included)
    manifest.json                 per mutant: seed, mutations with parameters, expectations

Mutant 0 is the sentinel (an unmodified crop of the SENTINEL_SEED, which must be
analysed); then one unmodified control per seed (the baseline of warnings a clean crop
gets); then the catalogue's mutations in turn, so that every variant is covered once the
corpus is as large as the catalogue, each on a seed picked at random among those it applies
to, and about one in ten with a second header mutation on top.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fuzz.mutations import CATALOGUE, Build, Mutation
from tests.fuzz.seeds import SEED_MAKERS, SENTINEL_SEED, SeedStudy, build_seeds, read, to_bytes, uid

COMBINE_RATE = 0.1
CONTROL_SEEDS = tuple(SEED_MAKERS)  # one clean copy of each, after the sentinel
FIRST_MUTANT = 1 + len(CONTROL_SEEDS)


@dataclass(frozen=True)
class Plan:
    """What mutant `index` is made of (decided before anything is written)."""

    index: int
    kind: str  # sentinel | control | mutant
    seed: str
    mutations: tuple[Mutation, ...]

    @property
    def family(self) -> str:
        return self.mutations[0].family if self.mutations else self.kind

    @property
    def folder(self) -> str:
        return f"{self.index:05d}-{self.family}"


def plan(index: int, seed: int) -> Plan:
    """Mutant `index` of the corpus with this seed."""
    if index == 0:
        return Plan(0, "sentinel", SENTINEL_SEED, ())
    if index < FIRST_MUTANT:
        return Plan(index, "control", CONTROL_SEEDS[index - 1], ())
    rng = _rng(seed, index, "plan")
    first = CATALOGUE[(index - FIRST_MUTANT) % len(CATALOGUE)]
    seed_name = rng.choice(first.seeds)
    mutations = [first]
    if not first.keep_seed_uids and rng.random() < COMBINE_RATE:
        extra = [m for m in CATALOGUE if m.combinable and m.family != first.family and seed_name in m.seeds]
        if extra:
            mutations.append(rng.choice(extra))
    return Plan(index, "mutant", seed_name, tuple(mutations))


def build_corpus(root: Path, n: int, seed: int, seeds: dict[str, SeedStudy] | None = None) -> dict[str, Any]:
    """Write the corpus and its manifest under `root`; return the manifest."""
    seeds = seeds or build_seeds()
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    mutants = [build_mutant(corpus, plan(i, seed), seed, seeds) for i in range(n)]
    manifest = {
        "seed": seed,
        "n": n,
        "corpus": str(corpus),
        "seeds": {
            name: {"source": s.source, "transfer_syntax": s.transfer_syntax, "files": len(s.files)}
            for name, s in seeds.items()
        },
        "mutants": mutants,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest


def build_mutant(corpus: Path, p: Plan, seed: int, seeds: dict[str, SeedStudy]) -> dict[str, Any]:
    """Write one mutant study into corpus/<folder>/ and return its manifest entry."""
    source = seeds[p.seed]
    b = Build(p.index, _rng(seed, p.index, "build"), source, seeds, uid("fuzz", seed, p.index, "study"))
    b.datasets = [read(f.data) for f in source.files]
    b.names = [f.name for f in source.files]
    if not any(m.keep_seed_uids for m in p.mutations):
        _new_uids(b, seed)
    done: list[dict[str, Any]] = []
    for stage in ("dataset", "bytes", "files"):
        if stage == "bytes":
            b.blobs = [to_bytes(ds) for ds in b.datasets]
        if stage == "files":
            b.folder = _write(corpus / p.folder, b)
        for m in p.mutations:
            if m.stage == stage:
                done.append(_record(m, m.apply(b)))
    return _entry(p, b, done)


def _new_uids(b: Build, seed: int) -> None:
    """Every mutant is its own study, series and instances: without this, the batch would
    see the mutants of one seed as copies of each other."""
    series = uid("fuzz", seed, b.index, "series")
    for k, ds in enumerate(b.datasets):
        ds.StudyInstanceUID = b.study_uid
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid("fuzz", seed, b.index, "sop", k)


def _write(folder: Path, b: Build) -> Path:
    folder.mkdir()
    for name, blob in zip(b.names, b.blobs, strict=True):
        (folder / name).write_bytes(blob)
    return folder


def _record(m: Mutation, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "family": m.family,
        "variant": m.variant,
        "stage": m.stage,
        "must_notice": m.must_notice,
        "must_analyse": m.must_analyse,
        "params": params,
    }


def _entry(p: Plan, b: Build, done: list[dict[str, Any]]) -> dict[str, Any]:
    assert b.folder is not None
    files = [os.path.relpath(path, b.folder) for path in walk_entries(b.folder)]
    return {
        "index": p.index,
        "folder": p.folder,
        "kind": p.kind,
        "family": p.family,
        "variant": "+".join(m.variant for m in p.mutations) or p.kind,
        "seed": p.seed,
        "study_uid": b.study_uid,
        "mutations": done,
        "must_notice": any(m.must_notice for m in p.mutations),
        "must_analyse": all(m.must_analyse for m in p.mutations),
        "files": files,
    }


def _rng(seed: int, index: int, purpose: str) -> random.Random:
    """A generator per mutant and purpose: mutant i is the same whatever N is."""
    return random.Random(f"calcscan-fuzz:{seed}:{index}:{purpose}")


def walk_entries(corpus: Path) -> list[str]:
    """Every entry under `corpus` that a run must account for, as paths: regular files,
    special files and symlinks (to files or folders, dangling or looping), never following a
    link. The folders themselves are not entries."""
    entries = []
    for folder, dirs, names in os.walk(corpus, followlinks=False):
        dirs.sort()
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        entries += [os.path.join(folder, name) for name in sorted(names + links)]
    return entries


def tree_checksums(corpus: Path) -> dict[str, str]:
    """Content (sha256) or link target of every entry, by path relative to `corpus`: the
    same seed must give the same tree, and a run must leave it as it was."""
    return {os.path.relpath(path, corpus): _fingerprint(path) for path in walk_entries(corpus)}


def _fingerprint(path: str) -> str:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return "link:" + os.readlink(path)
    if not stat.S_ISREG(st.st_mode):
        return f"special:{stat.S_IFMT(st.st_mode):o}"  # a FIFO is never opened
    with open(path, "rb") as fp:
        return hashlib.sha256(fp.read()).hexdigest()
