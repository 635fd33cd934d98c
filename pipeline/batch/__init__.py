"""The batch engine: one task per study, run in worker processes, on a Dask cluster or in
this process; resumable, fault-isolated, with progress and a final summary."""
