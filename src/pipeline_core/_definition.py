"""Configuration definitions declared once: an ``attrs`` value class, its plain form derived.

A definition (a stage, a pipeline, a grade band, a scoring rule, an SLA rule ...) is declared once,
as an immutable ``attrs`` class: that class is what code builds (positionally or by keyword),
compares, hashes and ``attrs.evolve`` s. Everything about its *plain-data* form is derived from
that one declaration here, never written again by hand:

- :func:`from_plain` (``Cls.from_dict``): the JSON/YAML form validated by a pydantic schema built
  from the class's fields, then the value built bottom-up; every problem is listed at once in one
  :class:`~pipeline_core.errors.ConfigError` with its path (nested definitions included).
- :func:`to_plain` (``obj.to_dict()``): the same form back, defaults left out unless a field says
  ``dump="always"``;
- :func:`schema_of` (``Cls.json_schema()``): the JSON Schema of that form.

Why ``attrs`` values with a derived schema rather than pydantic models: users and the shared cases
build definitions positionally (``Stage("won", "Won", kind="won")``) and with ``attrs.evolve``;
records already work this way (:func:`pipeline_core._model.record`); and pydantic then runs only
where plain data comes in, which keeps the domain core free of validation cost.

A field's plain form is tuned with :func:`plain`: another key (``alias="from"``), another schema
type (``schema=Annotated[...]``), a custom encoder, or whether its default is written. A class's
semantic checks (graph, bands, overrides) stay in the class: small named functions returning
:class:`~pipeline_core.errors.Problem` s, run by :func:`raise_problems` at construction, so a value
built in code and one read from a file are checked by the same code.
"""

from __future__ import annotations

import collections.abc
import contextvars
import functools
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, Literal, NotRequired, Self, TypeVar

import attrs
import pydantic
from typing_extensions import TypedDict

from pipeline_core.errors import ConfigError, Problem

__all__ = [
    "Check",
    "Definition",
    "PlainField",
    "definition",
    "from_plain",
    "plain",
    "raise_problems",
    "schema_of",
    "to_plain",
]

_KEY: Final = "pipeline_core.plain"
_T = TypeVar("_T")

Check = Callable[[Any], Iterable[Problem]]
"""A named semantic check of a definition: the value in, its problems out (none when fine)."""


@attrs.frozen
class PlainField:
    """How one field appears in the plain form.

    ``alias``: the key in plain data (default: the field name); ``schema``: the type pydantic
    validates the plain value with (default: derived from the annotation); ``dump``: ``"default"``
    writes the value only when it differs from the field's default, ``"always"`` always,
    ``"never"`` never; ``encode``: a function from the value to its plain form (default: derived);
    ``decode``: a function from the validated plain value to the field's value (default: derived;
    returning ``attrs.NOTHING`` leaves the field at its default, e.g. a ``null`` meaning "the
    default"); ``like``: read and write the field as if it were annotated ``like`` (for a field
    whose annotation also admits values with no plain form, e.g. guards that may be callables:
    ``like=tuple[Condition, ...]``);
    with a ``schema``, the definitions that schema names are built first and ``decode`` gets
    them; a :class:`ConfigError` raised by ``decode`` is listed under the field's path.
    """

    alias: str | None = None
    schema: Any = None
    dump: Literal["default", "always", "never"] = "default"
    encode: Callable[[Any], Any] | None = None
    decode: Callable[[Any], Any] | None = None
    like: Any = None


def plain(
    *,
    alias: str | None = None,
    schema: Any = None,
    dump: Literal["default", "always", "never"] = "default",
    encode: Callable[[Any], Any] | None = None,
    decode: Callable[[Any], Any] | None = None,
    like: Any = None,
) -> dict[str, PlainField]:
    """``attrs.field(metadata=plain(alias="from"))``: the field's plain form (see
    :class:`PlainField`)."""
    return {_KEY: PlainField(alias, schema, dump, encode, decode, like)}


@attrs.frozen
class _Field:
    name: str
    key: str
    spec: PlainField
    required: bool
    default: Any
    build: Callable[[Any, tuple[str | int, ...], list[Problem]], Any]


@attrs.frozen
class _Layout:
    cls: type[Any]
    what: str
    tag: tuple[str, str] | None  # (key, value) written beside the fields, e.g. ("kind", "range")
    fields: tuple[_Field, ...]
    typed_dict: Any


_DEFINITIONS: Final[dict[type[Any], tuple[str, tuple[str, str] | None]]] = {}
_LAYING_OUT: Final[set[type[Any]]] = set()  # definitions whose layout is being made (recursion)
_FROM_PLAIN: Final = contextvars.ContextVar("pipeline_core.from_plain", default=False)


class Definition:
    """An optional base of a definition class: the derived ``from_dict``, ``to_dict`` and
    ``json_schema`` (what :func:`definition` adds) declared so that type checkers see them."""

    __slots__ = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from plain data (:func:`from_plain`: :class:`ConfigError` lists every problem)."""
        return from_plain(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """The plain form (:func:`to_plain`), which :meth:`from_dict` reads back to an equal value."""
        return to_plain(self)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of the plain form (:func:`schema_of`)."""
        return schema_of(cls)


def definition(what: str, *, tag: tuple[str, str] | None = None) -> Callable[[type[_T]], type[_T]]:
    """Register an ``attrs`` class as a definition named ``what`` (used in :class:`ConfigError`).

    ``tag`` is a ``(key, value)`` pair written beside the fields and used to tell the members of a
    union apart (``("kind", "range")``). Adds ``from_dict`` (classmethod), ``to_dict`` and
    ``json_schema`` (classmethod) unless the class defines its own.
    """

    def register(cls: type[_T]) -> type[_T]:
        if not attrs.has(cls):
            raise TypeError(f"{cls.__name__} is not an attrs class")
        _DEFINITIONS[cls] = (what, tag)
        if "from_dict" not in cls.__dict__:
            cls.from_dict = classmethod(from_plain)  # type: ignore[attr-defined]
        if "to_dict" not in cls.__dict__:
            cls.to_dict = to_plain  # type: ignore[attr-defined]
        if "json_schema" not in cls.__dict__:
            cls.json_schema = classmethod(schema_of)  # type: ignore[attr-defined]
        return typing.cast(type[_T], cls)

    return register


# --------------------------------------------------------------------------- the derived layout


def _make_layout(cls: type[Any]) -> _Layout:
    _LAYING_OUT.add(cls)
    try:
        return _laid_out(cls)
    finally:
        _LAYING_OUT.discard(cls)


def _laid_out(cls: type[Any]) -> _Layout:
    what, tag = _DEFINITIONS[cls]
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: list[_Field] = []
    annotations: dict[str, Any] = {}
    if tag is not None:
        annotations[tag[0]] = Literal[tag[1]]
    for f in attrs.fields(cls):
        if not f.init:
            continue
        spec: PlainField = f.metadata.get(_KEY, PlainField())
        if spec.dump == "never" and f.default is not attrs.NOTHING:
            continue
        key = spec.alias or f.name
        schema, build = _plain_type(hints[f.name] if spec.like is None else spec.like)
        if spec.schema is not None:
            schema = spec.schema
        if spec.decode is not None:
            inner: _Build = _same
            if spec.schema is not None:  # a schema naming definitions: build them, then decode
                schema, inner = _plain_type(spec.schema)
            build = _decoded(spec.decode, inner)
        required = f.default is attrs.NOTHING
        annotations[key] = schema if required else NotRequired[schema]
        fields.append(_Field(f.name, key, spec, required, f.default, build))
    td: Any = typing.cast(Any, TypedDict)(cls.__name__, annotations)
    td.__pydantic_config__ = pydantic.ConfigDict(extra="forbid", title=cls.__name__)
    td.__doc__ = cls.__doc__
    return _Layout(cls, what, tag, tuple(fields), td)


_Build = Callable[[Any, tuple[str | int, ...], list[Problem]], Any]


def _same(value: Any, path: tuple[str | int, ...], problems: list[Problem]) -> Any:
    return value


def _decoded(decode: Callable[[Any], Any], inner: _Build) -> _Build:
    """``decode`` after ``inner``; a :class:`ConfigError` of ``decode`` is listed under the
    field's path (its problems' paths are relative to the field), like a nested definition's."""

    def build(value: Any, path: tuple[str | int, ...], problems: list[Problem]) -> Any:
        before = len(problems)
        value = inner(value, path, problems)
        if len(problems) > before:
            return None
        try:
            return decode(value)
        except ConfigError as exc:
            problems.extend(_under(path, exc))
            return None

    return build


def _plain_type(hint: Any) -> tuple[Any, _Build]:
    """The schema type of a field's plain form and how to build the field's value from it."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        if _is_definition_type(args[0]):
            return _plain_type(args[0])
        inner, build = _plain_type(args[0])
        if build is _same:
            return hint, _same
        # a container of definitions with constraints (``min_length``): kept on its plain form
        return typing.Annotated[(inner, *hint.__metadata__)], build
    if isinstance(hint, type) and hint in _LAYING_OUT:
        # a definition nested in itself (rules of rules): validated when built, one level at a time
        return dict[str, Any], _nested_plain(hint)
    if isinstance(hint, type) and hint in _DEFINITIONS:
        return _layout(hint).typed_dict, _nested(hint)
    if (
        origin in (dict, collections.abc.Mapping)
        and len(args) == 2
        and _is_definition_type(args[1])
    ):
        value_schema, value_build = _plain_type(args[1])

        def build_mapping(value: Any, path: tuple[str | int, ...], problems: list[Problem]) -> Any:
            return {k: value_build(v, (*path, str(k)), problems) for k, v in value.items()}

        return typing.cast(Any, dict)[args[0], value_schema], build_mapping
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item_schema, item_build = _plain_type(args[0])

        def build_tuple(value: Any, path: tuple[str | int, ...], problems: list[Problem]) -> Any:
            return tuple(item_build(v, (*path, i), problems) for i, v in enumerate(value))

        return list[item_schema], build_tuple  # type: ignore[valid-type]
    if origin in (dict, Mapping) and len(args) == 2 and args[0] is str:
        value_schema, value_build = _plain_type(args[1])
        if value_build is _same:
            return hint, _same

        def build_dict(value: Any, path: tuple[str | int, ...], problems: list[Problem]) -> Any:
            return {k: value_build(v, (*path, k), problems) for k, v in value.items()}

        return dict[str, value_schema], build_dict  # type: ignore[valid-type]
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        optional = len(members) < len(args)
        if all(isinstance(m, type) and m in _DEFINITIONS for m in members) and members:
            if len(members) == 1:
                schema, build = _plain_type(members[0])
            else:
                schema, build = _tagged_union(members)
            if optional:
                return schema | None, _optional(build)
            return schema, build
        if optional and len(members) == 1:
            schema, build = _plain_type(members[0])
            return schema | None, _optional(build)
    return hint, _same


def layout_of(cls: type[Any]) -> _Layout:
    """The derived plain layout of definition class ``cls`` (its fields, keys and tag), made
    once per class; for :mod:`pipeline_core._plain_write`."""
    return _layout(cls)


def building_from_plain() -> bool:
    """True while :func:`from_plain` builds a value (its plain form was just validated whole)."""
    return _FROM_PLAIN.get()


def is_definition(value: object) -> bool:
    """Whether ``value`` is an instance of a registered definition class."""
    return type(value) in _DEFINITIONS


def _is_definition_type(hint: Any) -> bool:
    return isinstance(hint, type) and hint in _DEFINITIONS


def _optional(build: _Build) -> _Build:
    def build_optional(value: Any, path: tuple[str | int, ...], problems: list[Problem]) -> Any:
        return None if value is None else build(value, path, problems)

    return build_optional


def _tagged_union(members: list[type[Any]]) -> tuple[Any, _Build]:
    tags = {_DEFINITIONS[m][1] for m in members}
    if None in tags or len({t[0] for t in tags if t}) != 1:
        raise TypeError(f"union of definitions {members} needs one tag key on every member")
    key = next(iter(tags))[0]  # type: ignore[index]
    by_tag = {_DEFINITIONS[m][1][1]: m for m in members}  # type: ignore[index]
    union: Any = typing.Union[tuple(_layout(m).typed_dict for m in members)]  # noqa: UP007
    schema: Any = typing.Annotated[union, pydantic.Field(discriminator=key)]

    def build_union(value: Any, path: tuple[str | int, ...], problems: list[Problem]) -> Any:
        return _nested(by_tag[value[key]])(value, path, problems)

    return schema, build_union


def _under(path: tuple[str | int, ...], exc: ConfigError) -> Iterator[Problem]:
    """The problems of ``exc`` with their paths under ``path`` (a field's or an item's)."""
    for p in exc.problems:
        yield Problem((*path, *p.path), p.message, p.value, p.code, p.missing)


def _nested(cls: type[Any]) -> _Build:
    def build_nested(value: Any, path: tuple[str | int, ...], problems: list[Problem]) -> Any:
        try:
            return _build(cls, value, path, problems)
        except ConfigError as exc:
            problems.extend(_under(path, exc))
            return None

    return build_nested


def _nested_plain(cls: type[Any]) -> _Build:
    def build_nested(value: Any, path: tuple[str | int, ...], problems: list[Problem]) -> Any:
        try:
            valid = _adapter(cls).validate_python(value)
        except pydantic.ValidationError as exc:
            problems.extend(_schema_problems(cls, value, path, exc))
            return None
        return _nested(cls)(valid, path, problems)

    return build_nested


def _build(
    cls: type[Any],
    data: Mapping[str, Any],
    path: tuple[str | int, ...],
    problems: list[Problem],
    extra: Mapping[str, Any] | None = None,
) -> Any:
    layout = _layout(cls)
    kwargs: dict[str, Any] = {}
    failed: list[_Field] = []
    for f in layout.fields:
        if f.key not in data:
            continue
        before = len(problems)
        value = f.build(data[f.key], (*path, f.key), problems)
        if len(problems) > before:
            failed.append(f)  # its problems are listed
        elif value is not attrs.NOTHING:  # NOTHING: decoded "the default"
            kwargs[f.name] = value
    if failed:
        _list_own_problems(layout, kwargs, failed, path, problems, extra)
        return None  # a part failed: the whole is not built
    try:
        return cls(**kwargs, **(extra or {}))
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(layout.what, [Problem((), str(exc), dict(data), "invalid")]) from None


def _list_own_problems(
    layout: _Layout,
    kwargs: Mapping[str, Any],
    failed: list[_Field],
    path: tuple[str | int, ...],
    problems: list[Problem],
    extra: Mapping[str, Any] | None,
) -> None:
    """A definition one of whose parts failed: its own checks still run, on the value built
    without the failed fields (when they all have defaults), and its problems not under a failed
    field are listed too, so one :class:`ConfigError` lists every problem at once."""
    if any(f.required for f in failed):
        return
    failed_keys = {f.key for f in failed} | {f.name for f in failed}
    try:
        layout.cls(**kwargs, **(extra or {}))
    except ConfigError as exc:
        problems.extend(
            Problem((*path, *p.path), p.message, p.value, p.code, p.missing)
            for p in exc.problems
            if not (p.path and p.path[0] in failed_keys)
        )
    except (ValueError, TypeError):
        pass  # checks that need the failed parts: their problems are listed already


def _schema_problems(
    cls: type[Any], data: Any, path: tuple[str | int, ...], exc: pydantic.ValidationError
) -> list[Problem]:
    """The problems of a failed validation of ``data`` as a ``cls`` (under ``path``), and those of
    the definitions nested in themselves inside it, which the schema reads as plain objects and
    which would otherwise be validated only once the rest is valid."""
    from pipeline_core._model import problems_from_pydantic

    found = [_without_tags(p, data) for p in problems_from_pydantic(exc)]
    found.extend(_self_nested_problems(cls, data))
    return _merged(
        [], [Problem((*path, *p.path), p.message, p.value, p.code, p.missing) for p in found]
    )


def _self_nested_problems(cls: type[Any], data: Any) -> Iterator[Problem]:
    """Validate every definition nested in ``data`` on its own (paths relative to ``data``); the
    problems the enclosing schema found already come back again and are merged away."""
    if not isinstance(data, Mapping):
        return
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in _layout(cls).fields:
        if f.key in data:
            hint = hints[f.name] if f.spec.like is None else f.spec.like
            for sub_cls, sub, where in _definitions_in(hint, data[f.key], (f.key,)):
                try:
                    _adapter(sub_cls).validate_python(sub)
                except pydantic.ValidationError as exc:
                    yield from _schema_problems(sub_cls, sub, where, exc)
                else:
                    yield from (
                        Problem((*where, *p.path), p.message, p.value, p.code, p.missing)
                        for p in _self_nested_problems(sub_cls, sub)
                    )


def _definitions_in(
    hint: Any, value: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[type[Any], Any, tuple[str | int, ...]]]:
    """The definitions (class, plain value, path) a value of type ``hint`` holds at its top."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        yield from _definitions_in(args[0], value, path)
    elif _is_definition_type(hint):
        if isinstance(value, Mapping):
            yield hint, value, path
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if isinstance(value, list | tuple):
            for i, item in enumerate(value):
                yield from _definitions_in(args[0], item, (*path, i))
    elif origin in (dict, collections.abc.Mapping) and len(args) == 2:
        if isinstance(value, Mapping):
            for k, item in value.items():
                yield from _definitions_in(args[1], item, (*path, str(k)))
    elif origin in (typing.Union, types.UnionType) and isinstance(value, Mapping):
        members = [a for a in args if _is_definition_type(a)]
        tags = {_DEFINITIONS[m][1]: m for m in members}
        chosen = [m for (t, m) in tags.items() if t is None or value.get(t[0]) == t[1]]
        if len(chosen) == 1:
            yield chosen[0], value, path


def _merged(first: list[Problem], more: Iterable[Problem]) -> list[Problem]:
    """``first`` then those of ``more`` not already listed at or under one of their paths."""
    out = list(first)
    seen = {(p.path, p.code, p.message) for p in first}
    taken = [p.path for p in first]
    for p in more:
        key = (p.path, p.code, p.message)
        if key in seen or any(p.path[: len(t)] == t for t in taken):
            continue
        seen.add(key)
        out.append(p)
    return out


# --------------------------------------------------------------------------- the three services


def _make_adapter(cls: type[Any]) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(_layout(cls).typed_dict)


# one cache each, for the life of the process: definitions are classes, a handful of them
_layout = typing.cast(Callable[[type[Any]], _Layout], functools.cache(_make_layout))
_adapter = typing.cast(
    Callable[[type[Any]], pydantic.TypeAdapter[Any]], functools.cache(_make_adapter)
)


def from_plain(cls: type[_T], /, data: Mapping[str, Any], **extra: Any) -> _T:
    """Build a ``cls`` from plain data (parsed JSON/YAML/TOML).

    ``extra`` are keyword arguments of the constructor that have no plain form (an id factory,
    say), passed to the top-level value as they are. Raises :class:`ConfigError` naming the definition and listing every problem with its path:
    data nested too deep, bytes or sets, unknown keys, wrong types, and the problems of the
    semantic checks of every nested definition.
    """
    from pipeline_core._jsonvalue import check_definition_shape, not_plain_problems

    layout = _layout(cls)
    check_definition_shape(data, layout.what)  # first: everything below walks the data
    odd = not_plain_problems(data)  # listed with the schema's problems, not instead of them
    try:
        valid = _adapter(cls).validate_python(data)
    except pydantic.ValidationError as exc:
        raise ConfigError(layout.what, _merged(odd, _schema_problems(cls, data, (), exc))) from None
    if odd:
        raise ConfigError(layout.what, odd)
    problems: list[Problem] = []
    token = _FROM_PLAIN.set(True)  # the fields were just validated: check_fields has nothing to do
    try:
        built = _build(cls, valid, (), problems, extra)
    finally:
        _FROM_PLAIN.reset(token)
    if problems:
        raise ConfigError(layout.what, problems)
    return typing.cast(_T, built)


def _without_tags(problem: Problem, data: Any) -> Problem:
    """``problem`` without the step pydantic adds for the member of a tagged union
    (``rules[0].range.points`` becomes ``rules[0].points``)."""
    tags = {tag[0] for _, tag in _DEFINITIONS.values() if tag is not None}
    path: list[str | int] = []
    node = data
    for step in problem.path:
        if (
            isinstance(node, Mapping)
            and step not in node
            and any(node.get(key) == step for key in tags)
        ):
            continue  # the union member's tag, not a key of the data
        path.append(step)
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            node = None
    if len(path) == len(problem.path):
        return problem
    return Problem(tuple(path), problem.message, problem.value, problem.code, problem.missing)


def to_plain(obj: Any) -> dict[str, Any]:
    """The plain form of a definition (what :func:`from_plain` reads back to an equal value);
    written by :func:`pipeline_core._plain_write.write_plain`."""
    from pipeline_core._plain_form import write_plain

    return write_plain(obj)


def schema_of(cls: type[Any]) -> dict[str, Any]:
    """The JSON Schema of ``cls``'s plain form (draft 2020-12, as pydantic writes it)."""
    return _adapter(cls).json_schema()


def raise_problems(what: str, value: Any, checks: Iterable[Check]) -> None:
    """Run each named check on ``value``; raise one :class:`ConfigError` listing every problem."""
    problems = [p for check in checks for p in check(value)]
    if problems:
        raise ConfigError(what, problems)
