"""Text encodings of CSV files: detection from the first bytes (:func:`detect_encoding`) and
incremental decoding line by line (:func:`decoded_lines`, raising :class:`Undecodable` at the
first bad byte)."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import IO, Any, Final

from pipeline_core._optional import require
from pipeline_core.errors import Problem
from pipeline_core.ingest.rowsource import SourceError

__all__ = [
    "CANDIDATE_ENCODINGS",
    "CHUNK",
    "DETECT_BYTES",
    "Undecodable",
    "decoded_lines",
    "detect_encoding",
]

DETECT_BYTES: Final = 64 * 1024
"""How much of a CSV file the encoding is detected from (64 KiB)."""

CHUNK: Final = 64 * 1024
"""How much of a CSV file is decoded at a time after the first block (64 KiB)."""
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
CANDIDATE_ENCODINGS: Final = ("gb18030", "big5", "shift_jis", "euc_kr", "cp1252", "latin_1")
"""The encodings detection chooses from when a file is neither UTF-8 nor marked by a byte-order
mark: the common ones of CRM exports. Any other encoding is read when declared."""

_SUPERSETS: Final = {"gbk": "gb18030", "gb2312": "gb18030", "ascii": "utf-8"}


def detect_encoding(sample: bytes) -> tuple[str, bool]:
    """The encoding of a file that begins with ``sample``: ``(codec name, detected)``.

    A byte-order mark decides (``utf-8-sig``, ``utf-16``, ``utf-32``); else text that is strict
    UTF-8 is ``utf-8`` (an incomplete character at the very end of the sample is allowed); else
    the one encoding among :data:`CANDIDATE_ENCODINGS` that ``charset-normalizer`` finds
    plausible, with GBK and GB2312 reported as ``gb18030`` (their superset) and cp1252 preferred
    to latin-1. ``detected`` is always ``True``.

    Nothing is guessed: when several candidates read the sample plausibly as *different* text
    (a short GBK file with ASCII headers reads as cp1252, EUC-KR and Big5 too), a
    :class:`SourceError` (code ``encoding_ambiguous``) names them and asks for the encoding to be
    declared. Raises :class:`SourceError` (code ``encoding``) when nothing decodes the sample."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name, True
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, final=False)
        return "utf-8", True
    except UnicodeDecodeError:
        pass
    normalizer: Any = require("charset_normalizer", "ingest", "detecting a CSV file's encoding")
    matches = list(normalizer.from_bytes(sample, cp_isolation=list(CANDIDATE_ENCODINGS)))
    if not matches:
        raise SourceError(
            "a CSV file",
            [
                Problem(
                    ("<file>",),
                    "no known text encoding decodes it: declare the encoding",
                    sample[:16],
                    "encoding",
                )
            ],
        )
    readings: dict[str, str] = {}  # codec -> the text it reads; first = charset-normalizer's best
    for match in matches:
        name = codecs.lookup(match.encoding).name
        readings.setdefault(_SUPERSETS.get(name, name), str(match))
    if "cp1252" in readings:
        # latin-1 reads 0x80-0x9F as control characters no export writes: cp1252 is meant
        readings.pop("iso8859-1", None)
    best = next(iter(readings))
    rivals = [name for name, text in readings.items() if text != readings[best]]
    if rivals:
        raise SourceError(
            "a CSV file",
            [
                Problem(
                    ("encoding",),
                    "the encoding cannot be told for sure: "
                    f"{', '.join([best, *rivals])} each read the file as different text; "
                    'declare the encoding (e.g. encoding = "gb18030")',
                    sample[:16],
                    "encoding_ambiguous",
                )
            ],
        )
    return best, True


class Undecodable(Exception):
    """A byte the encoding cannot decode: its ``offset`` in the file, the ``bad`` bytes from
    there (at most 8) and the codec's ``reason``."""

    def __init__(self, offset: int, bad: bytes, reason: str) -> None:
        self.offset, self.bad, self.reason = offset, bad, reason


def decoded_lines(f: IO[bytes], encoding: str, head: bytes) -> Iterator[str]:
    """Lines of ``f`` (after ``head``, its first bytes, already read) decoded incrementally.
    Every line decoded before a bad byte is yielded; then :class:`Undecodable` is raised."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    pending = ""
    offset = 0
    chunk = head
    while True:
        final = not chunk
        try:
            text = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            # Hand over the complete lines before the bad byte first; ``exc.object`` is the
            # decoder's carried-over bytes followed by this chunk.
            data = bytes(exc.object)
            carried = len(data) - len(chunk)
            pending += data[: exc.start].decode(encoding, "replace")
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line + "\n"
            raise Undecodable(
                offset - carried + exc.start, data[exc.start : exc.start + 8], exc.reason
            ) from None
        offset += len(chunk)
        pending += text
        if "\n" in pending:
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line + "\n"
        if final:
            if pending:
                yield pending
            return
        chunk = f.read(CHUNK)
