"""A seeded fuzz corpus of mutated DICOM studies, run through `calcscan run` as one batch.

Why: real archives hold every kind of broken file, and one bad file must never cost a batch
its other studies, leak a Python traceback into a report, or pass silently when it makes
the numbers wrong. The corpus starts from small crops of real scans (and the sample
phantoms), mutates each copy in one documented way, and the checks say what the run must
make of it.

- `seeds`: the clean seed studies (crops of the real scans, header kept).
- `mutations`: the mutation families, each with what the run is expected to make of it.
- `corpus`: the generator (same seed, same bytes) and its manifest.
- `checks`: the run's outputs against the manifest.
- `python -m tests.fuzz`: build, run and check a corpus of any size (`make fuzz`).
"""
