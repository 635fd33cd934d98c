"""`calcscan listen`: a DICOM C-STORE receiver that analyses each study once it is complete.

Modalities and PACS routing rules send studies here; each study is written to
OUT/incoming/<study>/ as it arrives and analysed (in its own worker process, as in a batch)
once every association that sent it has been released and no instance of it has arrived
for --quiet-period seconds. Its outputs join OUT as a run's do (studies/, run.json,
summary.csv and index.html list every study received so far) and can be sent on with
--store-to. Instances of a study that arrive after it was analysed make it be analysed again.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click

from pipeline.cli_options import SHARED_OPTIONS, read_shared, with_options
from pipeline.output_path import check_output_folder

log = logging.getLogger(__name__)


@click.command()
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--port", type=click.IntRange(1, 65535), default=11112, show_default=True, help="TCP port.")
@click.option("--ae-title", default="CALCSCAN", show_default=True, help="This receiver's AE title.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option(
    "--quiet-period",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="A study is complete when its associations are released and nothing of it arrived for this long.",
)
@click.option(
    "--incoming",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where received instances are kept [default: OUT/incoming].",
)
@with_options(SHARED_OPTIONS)
def listen(
    out: Path,
    port: int,
    ae_title: str,
    host: str,
    quiet_period: float,
    incoming: Path | None,
    **opts,
) -> None:
    """Receive studies over DICOM (C-STORE SCP) and analyse each one once it is complete."""
    shared = read_shared(out, opts)
    if incoming is not None:
        check_output_folder(incoming)
    from pipeline.batch.job import BatchOptions
    from pipeline.batch.lock import output_lock
    from pipeline.pacs.receiver import StudyReceiver
    from pipeline.run import run_batch

    batch = BatchOptions(
        workers=1,
        study_timeout=opts["study_timeout"],
        resume=True,  # a study analysed before is analysed again only when its instances changed
        store_to=shared.store_to,
        keep_other_studies=True,
        progress="lines",
        summary_table=False,
        lock=False,  # held below for the whole session
    )

    def analyse(study_uid: str, folder: Path) -> None:
        code = run_batch([folder], out, shared.config, None, shared.outputs, batch)
        log.log(logging.ERROR if code else logging.INFO, "study %s done (exit code %d)", study_uid, code)

    # checks the AE title and port (usage errors) before anything is written
    receiver = StudyReceiver(port, ae_title, incoming or out / "incoming", analyse, quiet_period, host)
    with output_lock(out):
        receiver.start()
        click.echo(f"calcscan: listening on {host}:{port} as {ae_title}; outputs in {out}", err=True)
        try:
            _wait_for_stop_signal()
        finally:
            click.echo("calcscan: stopping (finishing the study in progress)", err=True)
            receiver.stop()


def _wait_for_stop_signal() -> None:
    """Until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    while not stop.wait(1.0):
        pass
