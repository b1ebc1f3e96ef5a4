"""Deprecated names and parameters, kept working for one release with a :class:`DeprecationWarning`.

The one place that decides how a renamed name keeps working:

- :func:`renamed_params` keeps an old keyword (``now=``) working beside the new one (``as_of=``);
- :func:`moved` builds a module ``__getattr__`` that serves names that moved elsewhere (or were
  renamed), warning once per access with where the name lives now.

Every alias says in its warning which release removes it (:data:`REMOVED_IN`).
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

__all__ = ["REMOVED_IN", "moved", "renamed_params"]

REMOVED_IN: Final = "0.4"
"""The release that removes every alias made here."""

_F = TypeVar("_F", bound=Callable[..., Any])


def renamed_params(**renames: str) -> Callable[[_F], _F]:
    """Decorate a function whose keyword parameters were renamed: ``renamed_params(now="as_of")``.

    A call that passes the old keyword gets a :class:`DeprecationWarning` and the value under the
    new name; passing both raises :class:`TypeError` naming them. Positional calls are unaffected.
    """

    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{func.__qualname__}() got both {old!r} and {new!r}; "
                            f"{old!r} is the old name of {new!r}"
                        )
                    warnings.warn(
                        f"{func.__qualname__}({old}=...) is deprecated: use {new}= "
                        f"(removed in {REMOVED_IN})",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def moved(
    module: str, names: Mapping[str, str], *, packages: tuple[str, ...] = ()
) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving names that moved: ``names`` maps each old name to its
    new home ``"package.module:NewName"``; a name not in ``names`` but in the ``__all__`` of one
    of ``packages`` (imported on first use, so no import cycle) moved there under its own name.
    Each access warns (:class:`DeprecationWarning`) and returns the object; an unknown name
    raises :class:`AttributeError` as Python would.

    >>> getattr_ = moved("pkg", {"Old": "pipeline_core.errors:ConfigError"})
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     getattr_("Old").__name__, caught[0].category.__name__
    ('ConfigError', 'DeprecationWarning')
    """

    def __getattr__(name: str) -> Any:
        target = names.get(name)
        if target is None:
            target = next(
                (
                    f"{package}:{name}"
                    for package in packages
                    if name in importlib.import_module(package).__all__
                ),
                None,
            )
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        where, _, new_name = target.partition(":")
        warnings.warn(
            f"{module}.{name} is deprecated: use {where}.{new_name} (removed in {REMOVED_IN})",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(where), new_name)

    return __getattr__
