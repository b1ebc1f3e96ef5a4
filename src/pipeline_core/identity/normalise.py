"""Contact keys: the one comparison key of a phone number (E.164) and of an e-mail address.

- :func:`normalise_phone`: E.164 (``"+8613800138000"``). Mainland China mobile and landline forms
  (``"13800138000"``, ``"+86 138 0013 8000"``, ``"0086 138..."``, ``"010-12345678"``,
  ``"(0755) 1234 5678"``) all parse with ``CN`` as the default region; other countries need their
  ``+`` prefix. Only numbers ``phonenumbers`` says are *valid* (a real number plan's range, not
  merely a possible length) are normalised: a local number written without its area code
  (``"84664163"``) or a short one (``"12345"``) gives ``None``, so two strangers' local numbers
  never look like one customer. Plain 11-digit mainland mobiles take a fast path (the digits are
  checked once with ``phonenumbers`` and cached) that gives the same result (a property test checks
  it).
- :func:`normalise_email`: trimmed, NFKC, lower case; ``+tag`` sub-addressing stripped only for the
  domains in :data:`PLUS_ADDRESSING_DOMAINS`; dots ignored for Gmail, and ``googlemail.com`` read
  as ``gmail.com``.

``phonenumbers`` is imported lazily (extra ``team``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final

from pipeline_core._optional import require

__all__ = ["PLUS_ADDRESSING_DOMAINS", "normalise_email", "normalise_phone"]

# --------------------------------------------------------------------------- phones

_PHONE_JUNK = re.compile(r"[\s\-().\u00a0/]")
_CN_MOBILE = re.compile(r"^(?:\+86|0086|86)?(1[3-9]\d{9})$")


def normalise_phone(raw: str | None, default_region: str = "CN") -> str | None:
    """The E.164 form of a phone number (``"+8613800138000"``), or ``None`` when it is not one.

    ``default_region`` applies to numbers written without a ``+`` country code (``"CN"``: mainland
    China, so ``"010-12345678"`` is Beijing). Extensions are dropped. A number that
    ``phonenumbers`` cannot parse, or that it does not call valid
    (``phonenumbers.is_valid_number``: a local number without its area code such as
    ``"84664163"``, a short ``"12345"``, an unassigned mobile range), gives ``None``: it cannot be
    made a full number, and guessing one would match strangers.
    Idempotent: ``normalise_phone(normalise_phone(x)) == normalise_phone(x)``.
    """
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        return None
    compact = _PHONE_JUNK.sub("", text)
    if default_region == "CN":
        fast = _CN_MOBILE.match(compact)
        if fast is not None:
            digits = fast.group(1)
            if _cn_mobile_pattern().fullmatch(digits):  # phonenumbers' own mobile ranges
                return "+86" + digits
            return _parse_phone("+86" + digits, "CN")
    return _parse_phone(text, default_region)


@lru_cache(maxsize=1)
def _cn_mobile_pattern() -> re.Pattern[str]:
    """The national-number pattern of valid mainland mobiles, from ``phonenumbers``' metadata (a
    number matching it is valid: ``is_valid_number`` matches the same pattern)."""
    require("phonenumbers", "team")
    import phonenumbers

    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    assert metadata is not None
    assert metadata.mobile is not None
    return re.compile(str(metadata.mobile.national_number_pattern))


@lru_cache(maxsize=65_536)
def _parse_phone(text: str, region: str) -> str | None:
    require("phonenumbers", "team")
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# --------------------------------------------------------------------------- e-mail

PLUS_ADDRESSING_DOMAINS: Final[frozenset[str]] = frozenset(
    {
        # Google: documented; Gmail also ignores dots in the local part.
        "gmail.com",
        "googlemail.com",
        # Microsoft consumer mail: plus addresses documented since 2020.
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        # Apple iCloud Mail, Fastmail, Proton: documented sub-addressing with "+".
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "proton.me",
        "protonmail.com",
    }
)
"""Domains whose ``local+tag@domain`` is delivered to ``local@domain``, so ``+tag`` is stripped.

Deliberately *not* included: ``qq.com``, ``163.com``, ``126.com``, ``sina.com`` (no documented
sub-addressing: a ``+`` there may be part of a different mailbox's name), ``yahoo.com`` (uses
``-`` for disposable addresses, not ``+``) and company domains (their servers decide). Pass
``plus_domains=`` to :func:`normalise_email` to change the list.
"""

_GMAIL: Final = frozenset({"gmail.com", "googlemail.com"})
_WHITESPACE = re.compile(r"\s")


def normalise_email(
    raw: str | None, plus_domains: frozenset[str] = PLUS_ADDRESSING_DOMAINS
) -> str | None:
    """The comparison key of an e-mail address, or ``None`` when it is not one.

    Trimmed, NFKC-normalised (full-width ``＠`` becomes ``@``), lower-cased (every mainstream
    provider treats the local part case-insensitively), trailing dot of the domain dropped.
    For domains in ``plus_domains`` the ``+tag`` is removed (unless nothing would be left); for
    Gmail the dots of the local part are removed and ``googlemail.com`` becomes ``gmail.com``.
    Idempotent.
    """
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    local, at, domain = text.rpartition("@")
    domain = domain.rstrip(".")
    if not at or not local or not domain or _WHITESPACE.search(text):
        return None
    if domain in plus_domains or domain in _GMAIL:
        base = local.split("+", 1)[0]
        if base:
            local = base
    if domain in _GMAIL:
        dotless = local.replace(".", "")
        if dotless:
            local = dotless
        domain = "gmail.com"
    return f"{local}@{domain}"
