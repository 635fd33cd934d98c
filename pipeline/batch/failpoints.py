"""Failure injection for testing the batch engine's fault isolation with real processes.

CALCSCAN_FAILPOINTS="raise:<uid>,crash:<uid>,hang:<uid>" makes the analysis of the series
whose SeriesInstanceUID ends with <uid> raise (a bug in a stage), and the task of the study
whose StudyInstanceUID ends with <uid> kill its own process (SIGKILL, as the kernel's OOM
killer does) or never finish. Failpoints exist so that the tests can
show what happens when a stage has a bug, a worker dies or a study hangs; they are never
set in normal use, and cost one environment lookup per study when unset.
"""

from __future__ import annotations

import os
import signal
import time

VARIABLE = "CALCSCAN_FAILPOINTS"


class InjectedFailure(RuntimeError):
    """Raised by the `raise` failpoint."""


def trigger(uid: str, actions: tuple[str, ...] = ("raise", "crash", "hang")) -> None:
    """Act on a failpoint among `actions` set for this UID, if any."""
    for item in os.environ.get(VARIABLE, "").split(","):
        action, _, suffix = item.strip().partition(":")
        if not suffix or action not in actions or not uid.endswith(suffix):
            continue
        if action == "raise":
            raise InjectedFailure(f"failpoint {VARIABLE} raise:{suffix}")
        if action == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if action == "hang":
            while True:
                time.sleep(1)
