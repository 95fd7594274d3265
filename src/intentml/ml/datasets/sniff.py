"""Sniffing an upload's format from its name and first bytes (`detect_format`)."""

from __future__ import annotations

from intentml.ml.datasets.base import DatasetError


def detect_format(filename: str, head: bytes) -> str:
    """Guess the format of an upload from its name and its first bytes.

    Content wins over the extension: Parquet is recognised by its `PAR1` magic, JSON
    Lines by a leading `{`; anything else that looks like text is CSV. Raises
    `DatasetError` for empty files, binary data, JSON arrays and files whose
    extension promises a format their content does not have.
    """
    name = filename.lower()
    if not head:
        raise DatasetError("the file is empty")
    if head.startswith(b"PAR1"):
        return "parquet"
    if name.endswith(".parquet") or name.endswith(".pq"):
        raise DatasetError(
            f"'{filename}' is named like a Parquet file but does not start with the Parquet "
            "magic bytes 'PAR1'; the file may be truncated or in another format"
        )
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise DatasetError("the file contains only whitespace")
    if text.startswith(b"{"):
        return "jsonl"
    if text.startswith(b"[") and (name.endswith(".json") or text[1:].lstrip()[:1] in (b"{", b"")):
        raise DatasetError(
            "the file is a JSON array; upload JSON Lines instead (one JSON object per line, "
            "no surrounding [ ])"
        )
    if name.endswith((".jsonl", ".ndjson", ".json")):
        raise DatasetError(
            f"'{filename}' is named like JSON Lines but its first non-blank character is not "
            "'{'; each line must be one JSON object"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DatasetError(
            "the file is UTF-16 text (as Excel's 'Unicode text' export writes it); save it as "
            "CSV UTF-8 and upload again"
        )
    if looks_binary(head):
        raise DatasetError(
            "the file is not CSV, Parquet or JSON Lines (it contains binary data); "
            "compressed files (zip, gzip, xlsx) must be extracted and saved as CSV first"
        )
    return "csv"


def looks_binary(head: bytes) -> bool:
    """Whether the first bytes of a file look like binary data rather than text."""
    if b"\x00" in head:
        return True
    sample = head[:4096]
    # Control characters other than tab/CR/LF/FF are rare in text of any encoding.
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return controls > max(2, len(sample) // 100)
