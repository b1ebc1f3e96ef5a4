"""JSON values and nesting depth: one check for every boundary that takes nested data.

A journal entry's ``payload``, a JSON Lines line and a definition read by ``from_dict`` (pipeline,
SLA policy) are nested data from outside. Two rules hold for all of them:

- **Depth**: at most :data:`MAX_DEPTH` (64) levels of objects and lists. Deeper input is refused
  with a typed error naming where it got too deep, before any recursive code sees it, so hostile
  input can never raise :class:`RecursionError`.
- **JSON values only** (payloads): ``None``, ``bool``, ``int``, finite ``float``, ``str`` (valid
  Unicode without NUL, which PostgreSQL's ``jsonb`` cannot hold), lists/tuples and objects with
  string keys. Everything else (NaN, infinity, bytes, sets, arbitrary objects) is refused, so every
  store adapter returns exactly what went in.

The walks are iterative (an explicit stack), never recursive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from math import isfinite
from typing import Any, Final

from pipeline_core.errors import ConfigError, Problem

__all__ = [
    "MAX_DEPTH",
    "DuplicateKeyError",
    "check_definition",
    "check_definition_shape",
    "depth_problem",
    "json_value_problems",
    "leaf_problems",
    "loads_unique",
    "not_plain_problems",
    "text_too_deep",
]

MAX_DEPTH: Final = 64
"""Most levels of nested objects/lists accepted in payloads, JSON Lines lines and definitions."""

_MAX_PROBLEMS: Final = 20  # per value: enough to act on, bounded for hostile input


def depth_problem(value: Any, path: tuple[str | int, ...] = ()) -> Problem | None:
    """The first place where ``value`` nests deeper than :data:`MAX_DEPTH` levels, or ``None``.

    Mappings, lists and tuples count as levels; the problem's ``path`` leads to the container
    that is one level too deep (``code="too_deep"``)."""
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.items()
        elif isinstance(item, list | tuple):
            children = enumerate(item)
        else:
            continue
        if depth > MAX_DEPTH:
            return Problem(
                where, f"nested deeper than {MAX_DEPTH} levels", "<nested value>", "too_deep"
            )
        for key, child in children:
            if isinstance(child, Mapping | list | tuple):
                stack.append(
                    (child, (*where, key if isinstance(key, int) else str(key)), depth + 1)
                )
    return None


def check_definition(data: Any, what: str) -> None:
    """The first check of every ``from_dict`` of a definition: :func:`check_definition_shape`,
    then no bytes or sets anywhere (:func:`not_plain_problems`); otherwise
    :class:`~pipeline_core.errors.ConfigError` listing them."""
    check_definition_shape(data, what)
    odd = not_plain_problems(data)
    if odd:
        raise ConfigError(what, odd)


def check_definition_shape(data: Any, what: str) -> None:
    """``data`` must be a mapping nested at most :data:`MAX_DEPTH` levels (checked before anything
    walks it); otherwise :class:`~pipeline_core.errors.ConfigError` naming the key where it gets
    too deep (or the root, for a non-mapping)."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            what,
            [Problem((), "expected an object (a mapping of names to values)", data, "dict_type")],
        )
    problem = depth_problem(data)
    if problem is not None:
        raise ConfigError(what, [problem])


def not_plain_problems(value: Any) -> list[Problem]:
    """Bytes and sets inside definition data (at most 20): plain data has neither, and pydantic
    would silently read ``b"x"`` as ``"x"`` and a set as a list. Depth was checked first."""
    return leaf_problems(value, _bytes_or_set)


def _bytes_or_set(item: Any, where: tuple[str | int, ...]) -> Problem | None:
    if isinstance(item, bytes | bytearray | memoryview):
        return Problem(where, "bytes are not text: give a string", item, "bytes_type")
    if isinstance(item, set | frozenset):
        return Problem(where, "a set is not plain data: give a list", item, "list_type")
    return None


_WALK_DEPTH: Final = MAX_DEPTH + 2


def leaf_problems(
    value: Any,
    check: Callable[[Any, tuple[str | int, ...]], Problem | None],
    path: tuple[str | int, ...] = (),
) -> list[Problem]:
    """The problems (at most 20) that ``check(item, path)`` finds in ``value`` and everything
    nested in it: the one walk for checks of single items at any depth (bytes or NUL in record
    input, bytes or sets in definition data).

    An item ``check`` finds a problem with is not looked into. Mappings (each key is checked too,
    at the path it names), lists, tuples, sets and frozensets (their items at the set's own path:
    a set has no positions) are walked, each container once (a value that contains itself ends),
    down to :data:`MAX_DEPTH` + 2 levels; iterative, so hostile nesting cannot raise
    ``RecursionError``."""
    out: list[Problem] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, path)]
    seen: set[int] = set()
    while stack and len(out) < _MAX_PROBLEMS:
        item, where = stack.pop()
        problem = check(item, where)
        if problem is not None:
            out.append(problem)
            continue
        if len(where) >= _WALK_DEPTH or not isinstance(
            item, Mapping | list | tuple | set | frozenset
        ):
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Mapping):
            for k, v in item.items():
                at = (*where, str(k))
                key_problem = None if type(k) is str and "\x00" not in k else check(k, at)
                if key_problem is not None:
                    out.append(key_problem)
                else:
                    stack.append((v, at))
        elif isinstance(item, set | frozenset):
            stack.extend((v, where) for v in item)
        else:
            stack.extend((v, (*where, i)) for i, v in enumerate(item))
    return out


def json_value_problems(value: Any, path: tuple[str | int, ...] = ()) -> list[Problem]:
    """Every reason (at most 20) why ``value`` is not a plain JSON value, with its path.

    Accepted: ``None``, ``bool``, ``int``, finite ``float``, ``str`` without NUL or lone
    surrogates, lists/tuples and mappings with ``str`` keys, nested at most :data:`MAX_DEPTH`
    levels. A container that contains itself is refused (``code="json_cycle"``)."""
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(value, path, 1)]
    inside: set[int] = set()  # ids of the containers on the current path (a cycle's tell)
    while stack and len(problems) < _MAX_PROBLEMS:
        item, where, depth = stack.pop()
        if item is _LEAVE:
            inside.discard(depth)  # here ``depth`` holds the id of the container left
            continue
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, float):
            if not isfinite(item):
                problems.append(
                    Problem(
                        where,
                        "JSON numbers are finite: NaN and infinity are refused",
                        item,
                        "json_number",
                    )
                )
            continue
        if isinstance(item, str):
            problem = _string_problem(item, where)
            if problem is not None:
                problems.append(problem)
            continue
        if isinstance(item, Mapping | list | tuple):
            if depth > MAX_DEPTH:
                problems.append(
                    Problem(
                        where,
                        f"nested deeper than {MAX_DEPTH} levels",
                        "<nested value>",
                        "too_deep",
                    )
                )
                continue
            if id(item) in inside:
                problems.append(
                    Problem(where, "a value that contains itself", "<cyclic value>", "json_cycle")
                )
                continue
            inside.add(id(item))
            stack.append((_LEAVE, where, id(item)))
            if isinstance(item, Mapping):
                for key, child in item.items():
                    if not isinstance(key, str):
                        problems.append(
                            Problem(where, "JSON object keys are strings", key, "json_key")
                        )
                        continue
                    problem = _string_problem(key, (*where, key))
                    if problem is not None:
                        problems.append(problem)
                        continue
                    stack.append((child, (*where, key), depth + 1))
            else:
                for i, child in enumerate(item):
                    stack.append((child, (*where, i), depth + 1))
            continue
        problems.append(
            Problem(
                where,
                "not a JSON value: expected null, true/false, a finite number, a string, a list "
                f"or an object with string keys, got {type(item).__name__}",
                item,
                "json_type",
            )
        )
    return problems


_LEAVE: Final = object()


def _string_problem(text: str, where: tuple[str | int, ...]) -> Problem | None:
    if "\x00" in text:
        return Problem(where, "text may not contain NUL (U+0000)", text, "json_string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return Problem(where, "not valid Unicode text (a lone surrogate)", text, "json_string")
    return None


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (``json.loads`` would keep the last silently)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"the key {key!r} appears twice in one object")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def loads_unique(text: str) -> Any:
    """``json.loads(text)``, refusing an object that names a key twice.

    Raises :class:`json.JSONDecodeError` for text that is not JSON and :class:`DuplicateKeyError`
    (both ``ValueError``) for a repeated key, which RFC 8259 leaves undefined and ``json.loads``
    would resolve silently by keeping the last value."""
    return json.loads(text, object_pairs_hook=_unique_keys)


_TOKENS: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:]', re.DOTALL)


def text_too_deep(text: str) -> tuple[bool, str | None]:
    """Whether the JSON text ``text`` nests deeper than :data:`MAX_DEPTH` levels, and if so the
    top-level key (of an object) under which it does (``None`` if not inside one).

    Read without parsing (strings are skipped, brackets counted), so it is safe on input that would
    make a parser recurse too deeply. Cheap for ordinary text: it only scans when the text holds
    more than 64 brackets."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False, None
    depth = 0
    key: str | None = None
    last: str | None = None
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True, key
        elif token in "]}":
            depth -= 1
        elif token == ":" and depth == 1 and last is not None:
            try:
                key = json.loads(last)
            except ValueError:
                key = last
        last = token if token.startswith('"') else None
    return False, None
