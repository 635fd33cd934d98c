"""When a study sent over DICOM is complete: the bookkeeping behind the receiver.

DICOM has no "end of study" message.  A study counts as complete when every association that
sent part of it has ended (released or aborted) and nothing of it has arrived for a quiet
period; a sender that opens a new association per series is covered by the quiet period.
Kept apart from pynetdicom so that the rule is in one small, thread-safe place.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

_RECHECK_SECONDS = 0.5


class StudyTracker:
    """Pending studies and the open associations sending them; called from many threads."""

    def __init__(self, quiet_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet_seconds = quiet_seconds
        self._clock = clock
        self._changed = threading.Condition()
        self._sending: dict[Hashable, set[str]] = {}  # open association -> studies it sent
        self._last_arrival: dict[str, float] = {}  # pending study -> when it last got an instance
        self._stopping = False

    def arrived(self, association: Hashable, study_uid: str) -> None:
        """An instance of the study came in on this association (again pending if done)."""
        with self._changed:
            self._sending.setdefault(association, set()).add(study_uid)
            self._last_arrival[study_uid] = self._clock()
            self._changed.notify_all()

    def ended(self, association: Hashable) -> None:
        """The association was released or aborted, or its connection closed."""
        with self._changed:
            if self._sending.pop(association, None) is not None:
                self._changed.notify_all()

    def pending(self) -> list[str]:
        with self._changed:
            return sorted(self._last_arrival)

    def stop(self) -> None:
        """Make `wait_complete` return None at once, now and later."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    def take_complete(self) -> str | None:
        """A complete study, taken off the pending list, or None right now."""
        with self._changed:
            study, _ = self._next_complete()
            if study is not None:
                del self._last_arrival[study]
            return study

    def wait_complete(self) -> str | None:
        """Block until a study is complete and take it off the pending list; None once stopped."""
        with self._changed:
            while not self._stopping:
                study, wait = self._next_complete()
                if study is not None:
                    del self._last_arrival[study]
                    return study
                self._changed.wait(timeout=wait)
            return None

    def _next_complete(self) -> tuple[str | None, float]:
        """The study that has been quiet longest, if complete; else how long to wait."""
        self._forget_dead_associations()
        busy = set().union(*self._sending.values()) if self._sending else set()
        now = self._clock()
        wait = _RECHECK_SECONDS
        for study, last in sorted(self._last_arrival.items(), key=lambda item: item[1]):
            if study in busy:
                continue
            left = last + self.quiet_seconds - now
            if left <= 0:
                return study, 0.0
            wait = min(wait, left)
        return None, wait

    def _forget_dead_associations(self) -> None:
        """An association thread that ended without any event still must not block its studies."""
        for association in list(self._sending):
            is_alive = getattr(association, "is_alive", None)
            if callable(is_alive) and not is_alive():
                del self._sending[association]
