"""Metamorphic tests: the same study stored differently must give the same answer.

`variants` rewrites a classic CT series (transposed, flipped, reordered, feet first, prone,
re-encoded, multi-frame, another rescale) so that the patient-space image stays identical,
`patient_space` proves that it does with its own reader (so that a failing comparison is
calcscan's fault, not the writer's), `compare` compares two report.json files, `seeds`
says which studies are rewritten how, and `runs` runs calcscan once per series.
"""
