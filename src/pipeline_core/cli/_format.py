"""How the command line and the report show things to a person: one format per quantity.

- an instant: in the reader's time zone with its offset (``2025-04-05 22:12 +08:00``), or labelled
  ``UTC`` (``2025-04-05 14:12 UTC``); never microseconds;
- a score: one decimal (``85.0``); a count: a whole number with thousands separators (``1,234``);
  a share or rate: a percentage with one decimal (``45.9%``); money: the currency's symbol or code
  and whole units with thousands separators (``¥61,690,000``);
- names, not ids: a stage's label in the reader's language, a user's name, a rule's title; the ids
  on request (``--ids``);
- tables aligned by display width (East Asian wide characters count two columns, through
  :mod:`wcwidth`).
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from wcwidth import wcswidth

__all__ = [
    "DEFAULT_LANG",
    "Names",
    "count",
    "instant",
    "money",
    "os_error_text",
    "pad",
    "pct",
    "score",
    "table",
    "width",
]

DEFAULT_LANG: Final = "zh-CN"
"""The language of labels when none is asked for (the sample company is in mainland China)."""

_SYMBOLS: Final = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "JP¥", "HKD": "HK$"}


def instant(value: datetime | str | None, zone: ZoneInfo | str | None = None) -> str:
    """``value`` (an aware datetime or its ISO text) in ``zone`` to the minute with the offset,
    ``2025-04-05 22:12 +08:00``; in UTC (or without a zone) it reads ``2025-04-05 14:12 UTC``.
    ``None`` is ``—``."""
    if value is None:
        return "—"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    if tz is not None:
        at = at.astimezone(tz)
    offset = at.utcoffset()
    if offset is None or (offset == timedelta(0) and (tz is None or tz.key in ("UTC", "Etc/UTC"))):
        return f"{at:%Y-%m-%d %H:%M} UTC"
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{at:%Y-%m-%d %H:%M} {sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def score(value: float | Decimal | None) -> str:
    """A score as people read it everywhere: one decimal (``85.0``)."""
    return "—" if value is None else f"{float(value):.1f}"


def count(value: float | int | None) -> str:
    """A count: a whole number with thousands separators (``1,234``)."""
    return "—" if value is None else f"{round(value):,}"


def pct(value: float | None) -> str:
    """A share or rate (0..1) as a percentage with one decimal (``45.9%``)."""
    return "—" if value is None else f"{value:.1%}"


def money(value: float | Decimal | None, currency: str | None = None) -> str:
    """An amount in whole units with thousands separators, led by the currency's symbol (or code):
    ``¥61,690,000``; a currency without a symbol here is led by its code (``SEK 1,000``)."""
    if value is None:
        return "—"
    text = f"{float(value):,.0f}"
    if not currency:
        return text
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{currency} {text}"


def width(text: str) -> int:
    """Display width of ``text`` in terminal columns (wide CJK characters count two)."""
    w = wcswidth(text)
    return w if w >= 0 else len(text)


def pad(text: str, size: int, align: str = "<") -> str:
    """``text`` padded with spaces to ``size`` display columns (``<`` left, ``>`` right)."""
    gap = " " * max(0, size - width(text))
    return text + gap if align == "<" else gap + text


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], aligns: str, indent: str = "  "
) -> list[str]:
    """Lines of a plain-text table: columns as wide as their widest cell by display width,
    ``aligns`` one ``<`` or ``>`` per column (text left, numbers right), two spaces between."""
    widths = [max([width(h), *(width(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return (
            indent + "  ".join(pad(c, widths[i], aligns[i]) for i, c in enumerate(cells)).rstrip()
        )

    return [line(headers), *(line(r) for r in rows)]


class Names:
    """Names a person reads for ids: stage labels (in ``lang``), user names, rule titles.

    With ``ids=True`` every name is followed by its id in brackets (``首次沟通 (first_contact)``).
    :meth:`to_dict` / :meth:`from_dict` carry the tables in a command's JSON summary."""

    def __init__(
        self,
        *,
        stages: Mapping[str, str] | None = None,
        users: Mapping[str, str] | None = None,
        rules: Mapping[str, str] | None = None,
        ids: bool = False,
    ) -> None:
        self.stages = dict(stages or {})
        self.users = dict(users or {})
        self.rules = dict(rules or {})
        self.ids = ids

    @classmethod
    def of(
        cls,
        *,
        lang: str = DEFAULT_LANG,
        pipeline: Any = None,
        users: Iterable[Any] = (),
        policy: Any = None,
        ids: bool = False,
    ) -> Names:
        """The names of ``pipeline``'s stages (Chinese labels when ``lang`` is ``zh*`` and the
        stage has one), of ``users`` (records with ``id`` and ``name``) and of ``policy``'s rules
        (:meth:`~pipeline_core.sla.Rule.title` in ``lang``)."""
        zh = lang.lower().startswith("zh")
        stages = {}
        if pipeline is not None:
            for st in pipeline.stages:
                stages[st.id] = (st.label_zh if zh and st.label_zh else st.label) or st.id
        rules = {}
        if policy is not None:
            rules = {r.id: r.title(lang) for r in (*policy.rules, *policy.risks)}
        return cls(stages=stages, users={u.id: u.name for u in users}, rules=rules, ids=ids)

    def to_dict(self) -> dict[str, dict[str, str]]:
        """``{"stages": {id: label}, "users": {id: name}, "rules": {id: title}}``."""
        return {"stages": self.stages, "users": self.users, "rules": self.rules}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, str]], *, ids: bool = False) -> Names:
        """The names of a :meth:`to_dict` table."""
        return cls(
            stages=data.get("stages"), users=data.get("users"), rules=data.get("rules"), ids=ids
        )

    def _with_id(self, name: str | None, key: str) -> str:
        if not name or name == key:
            return key
        return f"{name} ({key})" if self.ids else name

    def stage(self, stage_id: str | None) -> str:
        """The stage's label in the reader's language."""
        return "—" if stage_id is None else self._with_id(self.stages.get(stage_id), stage_id)

    def user(self, user_id: str | None) -> str:
        """The user's name."""
        return "—" if user_id is None else self._with_id(self.users.get(user_id), user_id)

    def rule(self, rule_id: str) -> str:
        """The rule's title in the reader's language."""
        return self._with_id(self.rules.get(rule_id), rule_id)


_ERRNO_TEXT: Final = {
    errno.ENOENT: "does not exist",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the disk is read-only",
    errno.EEXIST: "already exists",
}


def funnel_rows(
    rows: Sequence[Mapping[str, Any]], names: Names, currency: str | None
) -> list[list[str]]:
    """The funnel summary's rows as a person reads them (stage label, reached, share, conversion,
    value), for the terminal and the HTML report alike."""
    return [
        [
            names.stage(r["stage"]),
            count(r["reached"]),
            pct(r["share"]),
            pct(r["conversion"]),
            money(r.get("value"), currency),
        ]
        for r in rows
    ]


def os_error_text(exc: OSError, action: str = "cannot use") -> str:
    """An operating-system error in the user's terms: ``cannot write report.html: permission
    denied`` rather than ``[Errno 13] Permission denied: 'report.html'``."""
    what = exc.filename if exc.filename is not None else "the file"
    reason = _ERRNO_TEXT.get(exc.errno or -1) or (exc.strerror or type(exc).__name__).lower()
    return f"{action} {what}: {reason}"
