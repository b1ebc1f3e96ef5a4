"""Hostile values: what a careless user or an attacker types, pastes or crafts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any


def deep(levels: int) -> Any:
    """``{"a": {"a": ... 1}}`` nested ``levels`` deep."""
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


TEXT: list[str] = [
    "",
    " ",
    "  padded  ",
    "\x00",
    "a\x00b",
    "\x1b[2J\x1b]0;owned\x07",
    "\x07",
    "\u200b",
    "\ufeff",
    "\ufeffx",
    "\u202eevil",
    "\u2028",
    "line\nbreak",
    "cr\rreturn",
    "tab\there",
    "\x9b31m",
    "'; DROP TABLE leads; --",
    "' OR '1'='1",
    '"quoted"',
    "back\\slash",
    "%s%s%n",
    "{0}{__class__}",
    "${jndi:ldap://x}",
    '=HYPERLINK("http://x")',
    "+cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "-0",
    "-0.00",
    "+1",
    "1e309",
    "１２３",
    "١٢٣",
    "1_000",
    "0x10",
    " 12 ",
    "45663",
    "1736125200",
    "1736125200.5",
    "NA",
    "N/A",
    "NULL",
    "null",
    "None",
    "true",
    "[]",
    "{}",
    "\ud800",
    "😀",
    "线索-001",
    "北京某某科技有限公司",
    "A" * 5_000,
    "2025-01-06T09:00:00+08:00",
    "2025-01-06T09:00:00Z",
    "2025-01-06T09:00:00",
    "2025-01-06",
    "2025-01-06T09:00:00+16:00",
    "2025-01-06T09:00:00-18:00",
    "2025-01-06T09:00:00+23:59",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "2025-13-45T99:99:99Z",
    "２０２５-01-06T09:00:00+08:00",
    "2025-01-06T09:00:00.1234567+08:00",
    "20250106T090000+0800",
]

OTHER: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    45663,
    10**30,
    1.5,
    -0.0,
    float("nan"),
    float("inf"),
    Decimal("NaN"),
    Decimal("-0"),
    Decimal("1E+3"),
    b"\xff",
    bytearray(b"x"),
    {1, 2},
    frozenset({"a"}),
    object(),
    [],
    {},
    ["a", 1],
    {"k": "v"},
    datetime(2025, 1, 6, 9),
    deep(100),
]

VALUES: list[Any] = TEXT + OTHER
