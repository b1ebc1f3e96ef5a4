"""Ctrl-C and ``sys.exit`` come through pydantic serialisation as themselves.

pydantic-core turns any exception raised inside a Python serializer function into a
``PydanticSerializationError`` (a ``ValueError``) carrying only its text, and every record's
serializer is a Python function. A ``KeyboardInterrupt`` delivered by the SIGINT handler while a
record is being serialised would therefore surface as a ``ValueError``, and a command line would
report bad input instead of exiting 130. :func:`reraise_interrupt` recognises the wrapped
``KeyboardInterrupt`` or ``SystemExit`` by that text and raises a fresh one in its place.
"""

from __future__ import annotations

import re

import pydantic_core

__all__ = ["reraise_interrupt"]

_WRAPPED = re.compile(
    r"(?:Error calling function `[^`]*`|Error serializing to JSON): "
    r"(KeyboardInterrupt|SystemExit)(?:: (.*))?$"
)


def reraise_interrupt(exc: BaseException) -> None:
    """Raise the ``KeyboardInterrupt`` (or ``SystemExit``, with its code when it was an integer)
    that pydantic-core wrapped into ``exc``; return when ``exc`` wraps neither."""
    if not isinstance(exc, pydantic_core.PydanticSerializationError):
        return
    text = str(exc)
    found = _WRAPPED.search(text.splitlines()[-1] if text else "")
    if found is None:
        return
    if found.group(1) == "KeyboardInterrupt":
        raise KeyboardInterrupt from None
    code = found.group(2) or ""
    raise SystemExit(int(code) if code.lstrip("-").isdigit() else code or None) from None

