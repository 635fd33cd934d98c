"""A DICOM C-STORE receiver (SCP) that hands each study over once it has been fully received.

Instances are written as they arrive to `incoming/<study folder>/<SOPInstanceUID>.dcm`.  A
single background thread calls `on_complete(study_uid, folder)` for one study at a time,
never a pynetdicom thread: the analysis it runs is long, and a network thread that blocks
would stall the sender's association until it times out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from pipeline.errors import UsageError
from pipeline.pacs.files import instance_path
from pipeline.pacs.names import check_ae_title, check_port
from pipeline.pacs.study_tracker import StudyTracker
from pipeline.report.outputs import study_key, write_bytes_atomic

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
_DRAIN_SECONDS = 5.0


class StudyReceiver:
    """Receives studies on a port and calls `on_complete` once per complete study.

    Usable as a context manager (`with StudyReceiver(...) as receiver:`), which starts it and
    stops it on the way out.
    """

    def __init__(
        self,
        port: int,
        ae_title: str,
        incoming: Path,
        on_complete: Callable[[str, Path], None],
        quiet_seconds: float = 5.0,
        host: str = "0.0.0.0",
    ) -> None:
        self.port = check_port(port, "receiver")
        self.ae_title = check_ae_title(ae_title, "receiver")
        self.host = host
        self.incoming = Path(incoming)
        self.on_complete = on_complete
        self._tracker = StudyTracker(quiet_seconds)
        self._server: ThreadedAssociationServer | None = None
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        """Listen (without blocking) and start the thread that processes complete studies."""
        if self._server is not None:
            return
        self.incoming.mkdir(parents=True, exist_ok=True)
        try:
            self._server = _storage_ae(self.ae_title).start_server(
                (self.host, self.port), block=False, evt_handlers=self._handlers()
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise UsageError(f"receiver: cannot listen on {self.host}:{self.port}: {reason}") from None
        self._worker = threading.Thread(target=self._process_studies, name="calcscan-studies", daemon=True)
        self._worker.start()
        log.info("receiving DICOM as %s on %s:%d into %s", self.ae_title, self.host, self.port, self.incoming)

    def stop(self) -> None:
        """Stop listening, let open associations finish briefly, then finish the current study.

        Studies received but not yet complete stay in `incoming` and are only logged: a
        study the sender had not finished must not be analysed as if it were whole.
        """
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            _end_associations(server)
        self._tracker.stop()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.join()
        left = self._tracker.pending()
        if left:
            log.warning("receiver stopped with %d studies not processed: %s", len(left), ", ".join(left))

    def __enter__(self) -> StudyReceiver:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _handlers(self) -> list:
        ended = self._association_ended
        return [
            (evt.EVT_C_STORE, self._store),
            (evt.EVT_RELEASED, ended),
            (evt.EVT_ABORTED, ended),
            (evt.EVT_CONN_CLOSE, ended),
        ]

    def _store(self, event: Event) -> int:
        """Write one instance; runs on the sender's association thread."""
        try:
            study_uid = str(event.dataset.get("StudyInstanceUID") or "").strip()
            sop_uid = str(event.request.AffectedSOPInstanceUID or "").strip()
        except Exception as exc:  # whatever pydicom raises for a dataset it cannot decode
            log.error("C-STORE from %s: cannot decode the dataset (%s)", _peer(event), exc)
            return CANNOT_UNDERSTAND
        if not study_uid or not sop_uid:
            log.error("C-STORE from %s: no StudyInstanceUID or SOPInstanceUID, refused", _peer(event))
            return CANNOT_UNDERSTAND
        self._tracker.arrived(event.assoc, study_uid)
        path = instance_path(self.incoming, study_uid, sop_uid)
        try:
            write_bytes_atomic(path, event.encoded_dataset())
        except OSError as exc:
            log.error("C-STORE %s of study %s: cannot write %s: %s", sop_uid, study_uid, path, exc)
            return OUT_OF_RESOURCES
        return SUCCESS

    def _association_ended(self, event: Event) -> None:
        self._tracker.ended(event.assoc)

    def _process_studies(self) -> None:
        """The one thread that calls `on_complete`, one study at a time."""
        while (study_uid := self._tracker.wait_complete()) is not None:
            folder = self.incoming / study_key(study_uid)
            log.info("study %s received completely, processing %s", study_uid, folder)
            try:
                self.on_complete(study_uid, folder)
            except Exception:
                log.exception("processing received study %s failed", study_uid)


def _storage_ae(ae_title: str) -> AE:
    """An AE that accepts every storage SOP class in any transfer syntax, and C-ECHO.

    The files are written as received, never decoded here, so compressed syntaxes (JPEG 2000,
    JPEG-LS, JPEG lossless, RLE, deflate) cost nothing to accept; the reader decodes them.
    """
    ae = AE(ae_title=ae_title)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    ae.maximum_pdu_size = 0  # no limit: fewer, larger PDUs for large images
    return ae


def _end_associations(server: ThreadedAssociationServer) -> None:
    """Give open associations a moment to finish, then abort the rest."""
    deadline = time.monotonic() + _DRAIN_SECONDS
    while server.active_associations and time.monotonic() < deadline:
        time.sleep(0.05)
    for association in server.active_associations:
        association.abort()


def _peer(event: Event) -> str:
    requestor = event.assoc.requestor
    return f"{requestor.ae_title}@{requestor.address}:{requestor.port}"
