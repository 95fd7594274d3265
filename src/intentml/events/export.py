"""The export format: one JSON line per event, the envelope's stored bytes verbatim.

`{"partition", "offset", "hash", "accepted", "reason", "event": <envelope>}`. The
envelope is embedded byte for byte as Kafka stores it (`msgspec.Raw`), not re-encoded,
so `sha256(event)` is the chain's hash and an export can be verified on its own.
Reformatting a line's `event` (pretty-printing, reordering keys) therefore reads as
an alteration: the bytes are the evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from intentml.events.chain import ChainRecord


class ExportedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One line of an export: where the event sits in the log, its hash, the fold's
    verdict on it, and the envelope itself."""

    partition: int
    offset: int
    hash: str
    #: Whether the log's fold accepted it, and why not (derived; not covered by the hash).
    accepted: bool
    reason: str | None = None
    event: msgspec.Raw


class BadExportLine(ValueError):
    """A line of an export file that is not an exported event."""

    def __init__(self, line_no: int, why: str) -> None:
        super().__init__(f"line {line_no} is not an exported event: {why}")
        self.line_no = line_no


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ExportedEvent)


def export_line(
    *, partition: int, offset: int, hash: str, accepted: bool, reason: str | None, value: bytes
) -> bytes:
    """The export line of one archived event, newline included."""
    line = ExportedEvent(
        partition=partition,
        offset=offset,
        hash=hash,
        accepted=accepted,
        reason=reason,
        event=msgspec.Raw(value),
    )
    return _encoder.encode(line) + b"\n"


def read_export(lines: Iterable[bytes]) -> Iterator[ChainRecord]:
    """The chain records of an export's lines (blank lines skipped); BadExportLine for a
    line that does not parse."""
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            e = _decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise BadExportLine(line_no, str(exc)) from exc
        yield ChainRecord(bytes(e.event), e.partition, e.offset, e.hash)
