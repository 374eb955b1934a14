"""What ties a partition's projection to the log it came from (streams/recovery.py).

Saved in the partition's meta hash with every write (docs/contract.md, "Rebuilding the
views from Kafka"); the case and the GPS projections both carry it.
"""

from __future__ import annotations


class TiedToLog:
    """The fingerprint of the record at ``offset`` (``fp``), an older record's
    (``anchor``), the generation a rebuild set (``gen``), how many records Redis held when
    the projection was saved (``saved_count``; None if the save predates that), when the
    log was last checked (``verified_at``), and the last offset the log no longer held
    when it was rebuilt (``incomplete``; -1: complete)."""

    def _tie(self) -> None:
        self.fp = ""
        self.gen = ""  # set by `gridpulse rebuild`: a writer from before it must reload
        self.anchor: tuple[int, str] | None = None  # (offset, fingerprint) of an older record
        self.saved_count: int | None = None
        self.verified_at = 0.0
        self.incomplete = -1
