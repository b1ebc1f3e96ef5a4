"""A griffe extension for the API reference: docstrings written with Sphinx roles render in
mkdocstrings.

- ``:class:`~pipeline_core.x.Y``` (and ``:func:``, ``:meth:``, ``:mod:``, ``:attr:``, ``:data:``,
  ``:exc:``, ``:obj:``, ``:const:``) becomes an *optional* mkdocs-autorefs cross-reference: a link
  when ``Y`` is documented on the site, its name as code otherwise (no warning either way). A leading
  ``~`` shows only the last part of the path, as in Sphinx. A name without the package prefix is
  looked up in the object's own module, then in its class.
- ``:ref:`` text and other roles become plain code.
- Doctest examples (``>>>`` lines and their output) become ``pycon`` code blocks instead of
  Markdown quotes.

Configured in ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|func|meth|mod|attr|data|exc|obj|const|ref|term|doc):`(?P<body>[^`]+)`"
)
_XREF_ROLES = frozenset({"class", "func", "meth", "mod", "attr", "data", "exc", "obj", "const"})


def _identifier(target: str, obj: Any) -> str:
    if target.startswith("pipeline_core") or "." not in target and not obj:
        return target
    module = getattr(getattr(obj, "module", None), "path", "") or ""
    owner = obj
    while owner is not None and getattr(owner, "kind", None) not in (
        griffe.Kind.CLASS,
        griffe.Kind.MODULE,
    ):
        owner = getattr(owner, "parent", None)
    first = target.lstrip(".").split(".")[0]
    if owner is not None and getattr(owner, "kind", None) == griffe.Kind.CLASS:
        if first in owner.members:
            return f"{owner.path}.{target.lstrip('.')}"
    if module:
        return f"{module}.{target.lstrip('.')}"
    return target


def convert_roles(text: str, obj: Any = None) -> str:
    """``text`` with every Sphinx role replaced by an optional autoref or inline code."""

    def replace(match: re.Match[str]) -> str:
        role, body = match["role"], match["body"].strip()
        explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", body)
        if explicit:
            title, target = explicit["title"], explicit["target"]
        else:
            target = body.lstrip("~")
            title = target.split(".")[-1] if body.startswith("~") else target
        if role in ("meth", "func") and not title.endswith(")"):
            title = f"{title}()"
        if role not in _XREF_ROLES:
            return f"`{title}`"
        ident = _identifier(target.lstrip("~"), obj)
        return (
            f'<autoref identifier="{html.escape(ident)}" optional>'
            f"<code>{html.escape(title)}</code></autoref>"
        )

    return _ROLE.sub(replace, text)


def fence_doctests(text: str) -> str:
    """Wrap each run of doctest lines (``>>>``/``...`` and the output up to a blank line) in a
    fenced ``pycon`` block, keeping its indentation."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not in_fence and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class SphinxRoles(griffe.Extension):
    """Converts Sphinx roles and doctests in every docstring once the object tree is built."""

    def on_object(self, *, obj: Any, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring in place."""
        doc = getattr(obj, "docstring", None)
        if doc is None or not doc.value:
            return
        doc.value = fence_doctests(convert_roles(doc.value, obj))
