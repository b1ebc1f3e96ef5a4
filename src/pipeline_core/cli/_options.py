"""The options and sub-command parsers the commands share: one place builds each of them."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

from pipeline_core._deprecation import REMOVED_IN
from pipeline_core.cli import _format as f
from pipeline_core.cli._common import DEFAULT_STORE, bad_input

__all__ = [
    "add_as_of_option",
    "add_command",
    "add_json",
    "add_lang_ids",
    "add_pipeline_option",
    "add_reader",
    "add_store",
    "lang_option",
    "zone_option",
]


def add_command(
    sub: Any,
    formatter: type[argparse.HelpFormatter],
    name: str,
    handler: Callable[[argparse.Namespace], int],
    *,
    help: str,
    description: str,
    examples: Sequence[str],
) -> argparse.ArgumentParser:
    """Register the sub-command ``name`` on the sub-parser action ``sub``: its one-line ``help``,
    its ``description``, its ``examples`` (command lines, shown under "examples:" as written) and
    the ``handler`` that runs it (returns the exit code)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples),
        formatter_class=formatter,
    )
    parser.set_defaults(handler=handler)
    return parser


class _Spelled(argparse.Action):
    """Stores the value and, in ``<dest>_option``, the option string that gave it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_option", option_string)
        if option_string in _OLD_SPELLINGS:
            new = _OLD_SPELLINGS[option_string]
            print(
                f"{parser.prog}: {option_string} is deprecated: use {new} (removed in {REMOVED_IN})",
                file=sys.stderr,
            )


_OLD_SPELLINGS: Final = {"--now": "--as-of"}
"""Deprecated option spellings and their new names: using one prints a one-line notice on stderr."""


def add_as_of_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--as-of INSTANT``, the evaluation instant (``args.as_of``; ``None``: the current
    time). ``--now`` is its old spelling, still read for one release (with a one-line deprecation
    notice on stderr); ``args.as_of_option`` names
    the spelling given, so an error names the option the user typed."""
    parser.add_argument(
        "--as-of",
        "--now",
        dest="as_of",
        action=_Spelled,
        metavar="INSTANT",
        help="the evaluation instant, ISO 8601 with offset (default: the current time; --now is "
        "its old spelling)",
    )
    parser.set_defaults(as_of_option="--as-of")


def add_pipeline_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """Add ``--pipeline NAME|FILE`` (a template name or a pipeline JSON file)."""
    parser.add_argument(
        "--pipeline",
        metavar="NAME|FILE",
        help=help or "template or pipeline JSON (default: the template the opportunities name)",
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    """Add the ``--json`` flag every command has."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON document on stdout (for tools and scripts)",
    )


def add_store(parser: argparse.ArgumentParser) -> None:
    """Add ``--store URL``."""
    parser.add_argument(
        "--store",
        default=DEFAULT_STORE,
        metavar="URL",
        help=f"store URL: sqlite:///relative.db, sqlite:////absolute.db, memory:// or "
        f"postgresql://user@host/db (default: {DEFAULT_STORE})",
    )
    parser.add_argument(
        "--as",
        dest="as_user",
        metavar="USER",
        help="read and write as this user of the store, within their access scopes (default: as "
        "an administrator). On a database file you can open directly this is a view, not a "
        "security boundary",
    )


def lang_option(text: str) -> str:
    """``--lang``: a Chinese or English language tag such as ``zh-CN`` or ``en`` (the languages
    labels and rule titles carry); anything else is a usage error, never English in its place."""
    if not re.fullmatch(r"(zh|en)(-[A-Za-z0-9]{2,8})*", text, flags=re.IGNORECASE):
        raise argparse.ArgumentTypeError(
            f"expected zh-CN or en (labels and rule titles exist in Chinese and English), "
            f"got {text!r}"
        )
    return text


def add_lang_ids(parser: argparse.ArgumentParser) -> None:
    """Add ``--lang`` (labels' language) and ``--ids`` (show ids after names)."""
    parser.add_argument(
        "--lang",
        default=f.DEFAULT_LANG,
        type=lang_option,
        metavar="LANG",
        help=f"language of stage labels and rule titles: zh-CN or en (default: {f.DEFAULT_LANG})",
    )
    parser.add_argument(
        "--ids",
        action="store_true",
        help="show each stage, user and rule id after its name",
    )


def add_reader(parser: argparse.ArgumentParser) -> None:
    """Add the reader's options: ``--lang``, ``--ids`` and ``--tz``."""
    add_lang_ids(parser)
    parser.add_argument(
        "--tz",
        metavar="ZONE",
        help="time zone the times are shown in (default: the team's, e.g. Asia/Shanghai)",
    )


def zone_option(text: str) -> str:
    """A ``--tz`` value: an IANA zone name, else bad input naming the option."""
    from pipeline_core._values import iana_zone

    try:
        iana_zone(text)  # the one zone check: also refuses machine-dependent names (localtime)
    except ValueError:
        raise bad_input(
            "options", "--tz", "not a time zone name such as Asia/Shanghai", text
        ) from None
    return text
