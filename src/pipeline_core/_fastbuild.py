"""Fast construction of immutable slotted objects on hot paths (internal).

Frozen attrs classes refuse attribute stores, so their constructors store each field through
``object.__setattr__``: about 0.1 µs a field. Hot paths that build millions of objects from values
that are valid by construction (a stage move, an SLA item, an outcome) build them here instead:

- :func:`writable_twin` makes a subclass of the frozen class that adds no slots and allows
  stores. An object is created as the twin, its slots are filled with plain attribute stores
  (specialised by the interpreter), and it is then given its real class. The two classes have
  the same layout, which is what Python requires of a ``__class__`` assignment, so the result is
  an ordinary, frozen instance of the real class (``type(obj) is cls``).
- :func:`builder` generates such a constructor, one store per field and no loop, from the
  class's own field list (so a field added to the class is set too).
- :func:`reader` generates the reverse: a function returning an object's fields as a ``dict``
  (one attribute load per field, in a dict display: what a serializer reads).

Nothing is validated: callers pass valid values only.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["builder", "reader", "writable_twin"]


def _make_twin(cls: type[Any]) -> type[Any]:
    """A subclass of the slotted class ``cls`` with the same layout whose instances accept stores
    (one per class: built on first use, then reused)."""
    return type(
        f"_Writable{cls.__name__}",
        (cls,),
        {
            "__slots__": (),
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__module__": cls.__module__,
            "__qualname__": f"_Writable{cls.__qualname__}",
        },
    )


writable_twin = typing.cast(Callable[[type[Any]], type[Any]], functools.cache(_make_twin))
"""A subclass of the slotted class ``cls`` with the same layout whose instances accept stores
(one per class: built on first use, then reused)."""


def builder(
    cls: type[Any],
    params: Sequence[str],
    values: Sequence[tuple[str, str]],
    namespace: dict[str, Any] | None = None,
    *,
    name: str = "build",
    prologue: Sequence[str] = (),
) -> Callable[..., Any]:
    """A function ``name(*params)`` returning a new ``cls`` whose field ``f`` is set to the Python
    expression ``e`` for each ``(f, e)`` of ``values`` (expressions may use ``params`` and
    ``namespace``, and names bound by the ``prologue`` statements). Every slot of ``cls`` must be
    set: an unset slot would read as missing."""
    lines = [f"def {name}({', '.join(params)}):", *(f"    {line}" for line in prologue)]
    lines.append("    o = _new(_W)")
    lines += [f"    o.{field} = {expr}" for field, expr in values]
    lines += ["    o.__class__ = _C", "    return o"]
    scope: dict[str, Any] = dict(namespace or {})
    scope.update(_new=object.__new__, _W=writable_twin(cls), _C=cls)
    exec("\n".join(lines), scope)  # generated from the class's field list
    fn: Callable[..., Any] = scope[name]
    return fn


def reader(names: Sequence[str], *, name: str = "read") -> Callable[[Any], dict[str, Any]]:
    """A function ``name(obj)`` returning ``{n: obj.n for n in names}`` in ``names`` order, as one
    dict display (about twice as fast as ``dict(zip(names, attrgetter(*names)(obj)))``). Names
    must be identifiers (field names are)."""
    for n in names:
        if not n.isidentifier():
            raise ValueError(f"not an identifier: {n!r}")
    body = ", ".join(f"{n!r}: o.{n}" for n in names)
    scope: dict[str, Any] = {}
    exec(f"def {name}(o):\n    return {{{body}}}\n", scope)  # generated from a field list
    fn: Callable[[Any], dict[str, Any]] = scope[name]
    return fn
