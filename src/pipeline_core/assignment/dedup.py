"""Duplicate detection on intake: normalisers, an index that stays near-linear, and explained matches.

Three normalisers turn the many ways people write the same thing into one key:

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
- :func:`normalise_company`: NFKC (full-width to half-width), case-folded, punctuation removed,
  spaces next to CJK characters removed, legal suffixes (有限公司, 股份有限公司, Co., Ltd., Inc.,
  GmbH ...) stripped from the end. As a sales team reads names, the key keeps apart what tells
  customers apart (:func:`parse_company`): a *region* written in brackets or in front
  (``某某科技（北京）有限公司``, ``北京某某科技有限公司``) is one qualifier, a *branch*
  (``…大庆油田分公司``, ``…深圳分行``, ``…办事处``: :data:`BRANCH_SUFFIXES`) another. Two names
  match when their cores are similar, their branches are the same (two branches of one group, or
  a branch and its head office, are related customers, not one: :meth:`DedupIndex.related`), and
  their regions do not contradict each other (a name without a region matches one with it).

:class:`DedupIndex` holds exact-key hash maps for phones, e-mails and normalised company names,
plus a blocking index of company-name character bigrams. A fuzzy company match (``rapidfuzz``
``ratio`` on the names' cores, at least ``threshold``, qualifiers agreeing) is only computed for
names found in
the blocks of some of the query's bigrams, so checking a lead costs about the same against 1,000
or 1,000,000 contacts. Only the query's *rarest* bigrams are probed: a ratio of at least t bounds
the indel distance d to a match by ``(1 - t) · 2n / t`` for a query of n characters, and d edits
leave at least ``n - 1 - 2d`` of the query's ``n - 1`` bigram positions intact (the q-gram
lemma), so probing bigrams that cover ``2d + 1`` positions, rarest first, cannot miss a match.
Names too short for that are probed through every bigram, which is lossless for
``threshold > 80`` (two strings with no bigram in common have a ratio of at most 80 unless both
are one character, which the exact map catches).

One limit keeps the cost per check flat as the index grows: a bigram held by more than
``max_block`` names (default 5,000; a "stop-bigram" such as "科技", "信息" or "北京" in a large
index) is not read, unless it is the query's rarest. Up to that size the index returns exactly
what a brute-force scan returns (a property test checks it); beyond it, a match is missed only if
every bigram it shares with the query among the rarest ones is a stop-bigram, i.e. the names
agree only in their most common parts.

``phonenumbers`` and ``rapidfuzz`` are imported lazily (extra ``team``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from array import array
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any, Final

import attrs

from pipeline_core._optional import require
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.records import Contact, Lead

__all__ = [
    "BRANCH_SUFFIXES",
    "COMPANY_SUFFIXES",
    "LATIN_BRANCH_WORDS",
    "PLUS_ADDRESSING_DOMAINS",
    "REGIONS",
    "CompanyName",
    "DedupIndex",
    "Match",
    "company_similarity",
    "normalise_company",
    "normalise_email",
    "normalise_phone",
    "parse_company",
]

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


# --------------------------------------------------------------------------- company names

COMPANY_SUFFIXES: Final[tuple[str, ...]] = (
    # Chinese legal forms (longest first where one contains another).
    "集团股份有限公司",
    "集团有限责任公司",
    "集团有限公司",
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "集团公司",
    "集团",
    "公司",
    # Latin legal forms, written after punctuation removal and case folding.
    "company limited",
    "co ltd",
    "co limited",
    "pte ltd",
    "pty ltd",
    "limited",
    "ltd",
    "incorporated",
    "inc",
    "corporation",
    "corp",
    "company",
    "co",
    "llc",
    "l l c",
    "llp",
    "gmbh",
    "ag",
    "plc",
    "s a",
    "sa",
    "bv",
    "nv",
    "kk",
    "group",
)
"""Legal-form suffixes stripped (repeatedly) from the end of a normalised company name."""

_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
_IS_CJK = re.compile(rf"[{_CJK}]")
_SPACE_NEAR_CJK = re.compile(rf"\s+(?=[{_CJK}])|(?<=[{_CJK}])\s+")
_LATIN_SUFFIXES = tuple(s for s in COMPANY_SUFFIXES if s.isascii())
_CJK_SUFFIXES = tuple(s for s in COMPANY_SUFFIXES if not s.isascii())


_NOT_WORD = re.compile(r"[\W_]+")


def _strip_punctuation(text: str) -> str:
    # Everything that is not a letter or digit (punctuation, symbols, spaces, controls) → space.
    return _NOT_WORD.sub(" ", text)


def _strip_suffixes(name: str) -> str:
    changed = True
    while changed and name.endswith(COMPANY_SUFFIXES):
        changed = False
        for suffix in _CJK_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)].rstrip()
                changed = True
                break
        if changed:
            continue
        for suffix in _LATIN_SUFFIXES:
            # A Latin suffix is a word of its own: after a space or right after a CJK character
            # ("某某科技co ltd" once spaces next to CJK are gone).
            if (
                name.endswith(suffix)
                and len(name) > len(suffix)
                and (name[-len(suffix) - 1] == " " or _IS_CJK.match(name[-len(suffix) - 1]))
            ):
                name = name[: -len(suffix)].rstrip()
                changed = True
                break
    return name


BRANCH_SUFFIXES: Final[tuple[str, ...]] = (
    "分公司",
    "子公司",
    "分行",
    "支行",
    "分理处",
    "营业部",
    "营业厅",
    "办事处",
    "代表处",
    "分部",
    "分店",
    "分厂",
    "分院",
    "分所",
    "分中心",
)
"""Endings that make a name a branch (分支机构) of a group: a branch is its own customer (names in
Latin script: :data:`LATIN_BRANCH_WORDS`)."""

_REGION_NAMES: Final = (
    # provinces, autonomous regions, municipalities, SARs
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 "
    "广东 海南 四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门 "
    # provincial capitals and large cities
    "石家庄 太原 沈阳 长春 哈尔滨 南京 杭州 合肥 福州 南昌 济南 郑州 武汉 长沙 广州 海口 成都 贵阳 "
    "昆明 西安 兰州 西宁 呼和浩特 南宁 拉萨 银川 乌鲁木齐 深圳 大连 青岛 宁波 厦门 苏州 无锡 常州 "
    "南通 徐州 温州 绍兴 嘉兴 金华 台州 佛山 东莞 珠海 中山 惠州 汕头 烟台 潍坊 临沂 唐山 保定 "
    "洛阳 宜昌 襄阳 株洲 岳阳 绵阳 泉州 漳州 赣州 芜湖 包头 鄂尔多斯 大庆 吉林市 鞍山 柳州 桂林 "
    "三亚 遵义 曲靖 宝鸡 咸阳 榆林"
)
REGIONS: Final[frozenset[str]] = frozenset(_REGION_NAMES.split())
"""Chinese region names recognised in front of a name or in brackets (with or without 省/市)."""

_REGION_ENDINGS: Final = ("省", "市", "自治区", "特别行政区")
_BRACKET = re.compile(r"\(([^()]*)\)")
_MIN_CORE_AFTER_REGION: Final = 3
"""A region in front is read as a qualifier only if at least this many characters remain
(``北京某某科技`` → 某某科技 in 北京; ``上海银行`` stays a name of its own)."""


@attrs.frozen
class CompanyName:
    """A company name as a sales team reads it: the ``core`` (normalised, legal suffixes
    stripped), the ``region`` it is qualified by (``None`` when not written), and the ``branch``
    (``"大庆油田分公司"``; ``None`` for the company itself)."""

    core: str
    region: str | None = None
    branch: str | None = None

    @property
    def key(self) -> str:
        """The comparison key: ``core``, then ``(region)``, then ``|branch`` when present."""
        out = self.core
        if self.region:
            out += f"({self.region})"
        if self.branch:
            out += f"|{self.branch}"
        return out


_REGION_SPELLINGS: Final[dict[str, str]] = {
    **{r + ending: r for r in REGIONS for ending in _REGION_ENDINGS},
    **{r: r for r in REGIONS},
}
_LONGEST_REGION: Final = max(map(len, _REGION_SPELLINGS))


def _region_of(text: str) -> str | None:
    """``text`` as a region name (``北京``, ``北京市``, ``广东省``), or ``None``."""
    return _REGION_SPELLINGS.get(text)


def _front_region(text: str) -> tuple[str | None, str]:
    """A region written in front of ``text`` and the rest (the longest region that leaves a
    core of at least :data:`_MIN_CORE_AFTER_REGION` characters)."""
    spellings = _REGION_SPELLINGS
    for n in range(min(len(text) - _MIN_CORE_AFTER_REGION, _LONGEST_REGION), 1, -1):
        region = spellings.get(text[:n])
        if region is not None:
            rest = text[n:]
            if len(_strip_suffixes(rest)) >= _MIN_CORE_AFTER_REGION:
                return region, rest
    return None, text


def _split_branch(text: str) -> tuple[str, str | None]:
    """``(group, branch)`` of a name ending in a :data:`BRANCH_SUFFIXES` word: the branch is
    what follows the group's last legal suffix (``…股份有限公司`` ``大庆油田分公司``) or, without
    one, a region just before the ending (``招商银行`` ``深圳分行``); else the ending alone."""
    if not text.endswith(BRANCH_SUFFIXES):
        return text, None
    for ending in BRANCH_SUFFIXES:
        if not text.endswith(ending) or len(text) == len(ending):
            continue
        head = text[: -len(ending)]
        cut = -1
        for suffix in _CJK_SUFFIXES:
            i = head.rfind(suffix)
            if i > 0 and i + len(suffix) < len(head):
                cut = max(cut, i + len(suffix))
        if cut > 0:
            return head[:cut], head[cut:] + ending
        for n in range(min(len(head) - 1, _LONGEST_REGION), 1, -1):
            if _region_of(head[-n:]) is not None:
                return head[:-n], head[-n:] + ending
        return head, ending
    return text, None


LATIN_BRANCH_WORDS: Final[frozenset[str]] = frozenset({"branch", "office", "plant", "factory"})
"""Last words that make a Latin-script name a branch (``… Co., Ltd. Shanghai Branch``,
``… (Beijing Representative Office)``) when they follow the group's legal form."""

_LATIN_SUFFIX_WORDS: Final = frozenset(s for s in _LATIN_SUFFIXES if " " not in s)


def _split_latin_branch(text: str) -> tuple[str, str | None]:
    """``(group, branch)`` of a Latin-script name whose words after its last legal-form word
    (``ltd``, ``inc`` …) end in a :data:`LATIN_BRANCH_WORDS` word; else ``(text, None)``."""
    words = _strip_punctuation(text).split()
    if len(words) < 3 or words[-1] not in LATIN_BRANCH_WORDS:
        return text, None
    for i in range(len(words) - 2, 0, -1):
        if words[i] in _LATIN_SUFFIX_WORDS:
            return " ".join(words[: i + 1]), " ".join(words[i + 1 :])
    return text, None


def _clean(text: str) -> str:
    text = _strip_punctuation(text).strip()
    if " " in text:
        text = _SPACE_NEAR_CJK.sub("", text)
    return text


def parse_company(raw: str | None) -> CompanyName | None:
    """Read a company name into core, region and branch (see :class:`CompanyName`); ``None``
    when nothing is left. Reading a :attr:`CompanyName.key` back gives the same name.

    >>> parse_company("中国某某能源股份有限公司大庆油田分公司")
    CompanyName(core='中国某某能源', region=None, branch='大庆油田分公司')
    >>> parse_company("某某科技（北京）有限公司") == parse_company("北京市某某科技有限公司")
    True
    """
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw).casefold())
    if "|" in text:  # a key: group|branch
        text, _, branch_text = text.partition("|")
        branch: str | None = _clean(branch_text) or None
    else:
        text, branch = _split_branch(_clean_keep_brackets(text))
        if branch is None:
            text, branch = _split_latin_branch(text)
        branch = _clean(branch) if branch else None
    region: str | None = None

    def bracket(m: re.Match[str]) -> str:
        nonlocal region
        found = _region_of(_clean(m.group(1)))
        if found is not None and region is None:
            region = found
            return " "
        return f" {m.group(1)} "

    if "(" in text:
        text = _BRACKET.sub(bracket, text)
    core = text
    for _ in range(8):  # reach the fixed point (one pass is enough for real names)
        nxt = _strip_suffixes(_clean(core))
        if nxt == core:
            break
        core = nxt
    if region is None:
        region, core = _front_region(core)
        core = _strip_suffixes(core)
    if not core:
        return None
    return CompanyName(core, region, branch)


def _clean_keep_brackets(text: str) -> str:
    """Whitespace next to CJK removed and the text trimmed, brackets kept (for branch endings)."""
    text = text.strip()
    return _SPACE_NEAR_CJK.sub("", text) if " " in text else text


def normalise_company(raw: str | None) -> str | None:
    """The comparison key of a company name (:attr:`CompanyName.key` of :func:`parse_company`),
    or ``None`` when nothing is left.

    NFKC (full-width ``ＡＢＣ（北京）`` becomes ``abc(北京)``), case-folded, punctuation and symbols
    turned into spaces, runs of spaces collapsed, spaces next to CJK characters removed, then the
    legal suffixes of :data:`COMPANY_SUFFIXES` stripped from the end (a name that *is* a suffix,
    such as ``"集团"``, is kept). A region in brackets or in front becomes ``(region)`` after the
    core, a branch ``|branch``. Idempotent.

    >>> normalise_company("北京某某科技有限公司"), normalise_company("某某科技（北京）有限公司")
    ('某某科技(北京)', '某某科技(北京)')
    >>> normalise_company("ACME Widgets Co., Ltd.")
    'acme widgets'
    """
    name = parse_company(raw)
    return None if name is None else name.key


def _qualifiers_agree(
    region_a: str | None, branch_a: str | None, region_b: str | None, branch_b: str | None
) -> bool:
    """Same branch (or both none), and regions that do not contradict each other."""
    if branch_a != branch_b:
        return False
    return region_a is None or region_b is None or region_a == region_b


def company_similarity(a: str, b: str) -> float:
    """How alike two company names are as one customer, 0-100: ``rapidfuzz`` ``ratio`` of their
    cores when their branches agree and their regions do not contradict each other, else 0
    (two branches of one group are related customers, not the same one)."""
    require("rapidfuzz", "team")
    from rapidfuzz import fuzz

    pa, pb = parse_company(a), parse_company(b)
    if (
        pa is None
        or pb is None
        or not _qualifiers_agree(pa.region, pa.branch, pb.region, pb.branch)
    ):
        return 0.0
    return float(fuzz.ratio(pa.core, pb.core))


@lru_cache(maxsize=4_096)
def _positions_to_cover(n: int, threshold: float) -> int | None:
    """How many of a query's n - 1 bigram positions must be probed so that no name with
    ``ratio >= threshold`` is missed; ``None`` when all of them must be (and even that is not a
    guarantee below ``threshold`` 80 for very short names).

    A candidate of length m with an LCS of L characters with the query differs by n - L deletions
    and m - L insertions; a deletion breaks at most two bigram positions of the query and an
    insertion one, so at most ``2n + m - 3L`` positions are broken. ``ratio >= t`` means
    ``2L >= t (n + m)``; the worst case over the lengths m that can reach the threshold bounds
    the broken positions, and one more covered position must be intact.
    """
    t = threshold / 100.0
    if n < 2:
        return None
    worst = 0
    m_low = max(1, math.ceil(n * t / (2 - t) - 1e-9))
    m_high = math.floor(n * (2 - t) / t + 1e-9)
    for m in range(m_low, m_high + 1):
        lcs = max(0, math.ceil(t * (n + m) / 2 - 1e-9))
        if lcs > min(n, m):
            continue
        worst = max(worst, 2 * n + m - 3 * lcs)
    need = worst + 1
    return need if need <= n - 1 else None


def _bigrams(name: str) -> set[str]:
    if len(name) < 2:
        return {name}
    return {name[i : i + 2] for i in range(len(name) - 1)}


# --------------------------------------------------------------------------- matches and index


@attrs.frozen
class Match:
    """One existing entry that looks like the same customer, with a score (0-1) and the reasons.

    ``score`` is the strongest signal: 1.0 for the same phone or e-mail, the name similarity / 100
    for a company name. ``signals`` names the kinds (``"phone"``, ``"email"``, ``"company"``).
    """

    existing_id: str
    score: float
    signals: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        """All reasons in one line."""
        return "; ".join(self.reasons)


@attrs.define
class _Hit:
    score: float = 0.0
    signals: list[str] = attrs.Factory(list)
    reasons: list[str] = attrs.Factory(list)


class DedupIndex:
    """An index of existing contacts/leads for duplicate checks that stays near-linear.

    ``threshold`` (0-100, default 90) is the minimum company-name similarity that counts as a
    match; bigram blocks of more than ``max_block`` names are not read (stop-bigrams, see the
    module notes), so below that size the index is exact.
    ``add`` is O(length of the name); ``find`` probes the exact maps and the query's bigram blocks.

    >>> idx = DedupIndex()
    >>> idx.add("c1", phone="13800138000", company="北京某某科技有限公司")
    >>> idx.find(phone="+86 138 0013 8000")[0].reason
    'same phone +8613800138000'
    """

    def __init__(
        self,
        *,
        threshold: float = 90.0,
        max_block: int = 5_000,
        default_region: str = "CN",
        plus_domains: frozenset[str] = PLUS_ADDRESSING_DOMAINS,
        company_matching: bool = True,
    ) -> None:
        problems = []
        if not 0 < threshold <= 100:
            problems.append(
                Problem(("threshold",), "must be in (0, 100]", threshold, "out_of_range")
            )
        if max_block < 1:
            problems.append(Problem(("max_block",), "must be at least 1", max_block, "too_small"))
        if problems:
            raise ConfigError("DedupIndex", problems)
        self.threshold = float(threshold)
        self.max_block = max_block
        self.default_region = default_region
        self.plus_domains = plus_domains
        self.company_matching = company_matching
        self._ids: list[str] = []
        self._positions: dict[str, int] = {}
        self._raw_names: list[str | None] = []
        self._names: list[str | None] = []  # the cores of the names (CompanyName.core)
        # qualifiers as plain strings (untracked by the garbage collector, like the blocks)
        self._regions: list[str | None] = []
        self._branches: list[str | None] = []
        # Blocks are int arrays: 4 bytes an entry and invisible to the garbage collector, whose
        # full collections would otherwise walk millions of lists.
        self._phone: dict[str, array[int]] = {}
        self._email: dict[str, array[int]] = {}
        self._exact_name: dict[str, array[int]] = {}
        self._grams: dict[str, array[int]] = {}
        self.candidates_examined = 0
        """Diagnostics: how many names the fuzzy comparison has looked at so far (all queries)."""

    def __len__(self) -> int:
        return len(self._ids)

    def add(
        self,
        existing_id: str,
        *,
        phone: str | None = None,
        email: str | None = None,
        company: str | None = None,
    ) -> None:
        """Index one existing entry (an id can be added several times, e.g. one per phone)."""
        pos = self._positions.get(existing_id)
        if pos is None:
            pos = len(self._ids)
            self._positions[existing_id] = pos
            self._ids.append(existing_id)
            self._raw_names.append(None)
            self._names.append(None)
            self._regions.append(None)
            self._branches.append(None)
        key = normalise_phone(phone, self.default_region)
        if key is not None:
            self._phone.setdefault(key, array("l")).append(pos)
        key = normalise_email(email, self.plus_domains)
        if key is not None:
            self._email.setdefault(key, array("l")).append(pos)
        parsed = parse_company(company) if self.company_matching else None
        if parsed is not None and self._names[pos] is None:
            name = parsed.core
            self._names[pos] = name
            self._regions[pos] = parsed.region
            self._branches[pos] = parsed.branch
            self._raw_names[pos] = company
            self._exact_name.setdefault(name, array("l")).append(pos)
            grams = self._grams
            for gram in _bigrams(name):
                block = grams.get(gram)
                if block is None:
                    grams[gram] = array("l", (pos,))
                else:
                    block.append(pos)

    def add_lead(self, lead: Lead) -> None:
        """Index a lead by its phone, e-mail and company."""
        self.add(lead.id, phone=lead.phone, email=lead.email, company=lead.company)

    def add_contact(self, contact: Contact, company: str | None = None) -> None:
        """Index a contact by its phone and e-mail, and ``company`` (its account's name) if given."""
        self.add(contact.id, phone=contact.phone, email=contact.email, company=company)

    def extend(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Index many entries given as mappings with ``id`` and optional phone/email/company."""
        for e in entries:
            self.add(e["id"], phone=e.get("phone"), email=e.get("email"), company=e.get("company"))

    def find(
        self,
        *,
        phone: str | None = None,
        email: str | None = None,
        company: str | None = None,
        exclude: str | None = None,
    ) -> list[Match]:
        """Every indexed entry matching by phone, e-mail or company name, strongest first.

        Order: score descending, then insertion order of the existing entries (deterministic).
        ``exclude`` leaves out one id (the entry itself, when re-checking an indexed record).
        """
        hits: dict[int, _Hit] = {}
        key = normalise_phone(phone, self.default_region)
        if key is not None:
            for pos in self._phone.get(key, ()):
                self._hit(hits, pos, 1.0, "phone", f"same phone {key}")
        key = normalise_email(email, self.plus_domains)
        if key is not None:
            for pos in self._email.get(key, ()):
                self._hit(hits, pos, 1.0, "email", f"same e-mail {key}")
        parsed = parse_company(company) if self.company_matching else None
        if parsed is not None:
            for pos, score in self._name_candidates(parsed, related=False):
                shown = self._raw_names[pos]
                self._hit(
                    hits,
                    pos,
                    score / 100.0,
                    "company",
                    f"company name {score:.0f}% similar: {company} ~ {shown}",
                )
        out = [
            Match(self._ids[pos], hit.score, tuple(hit.signals), tuple(hit.reasons))
            for pos, hit in sorted(hits.items(), key=lambda kv: (-kv[1].score, kv[0]))
            if self._ids[pos] != exclude
        ]
        return out

    def related(self, company: str, *, exclude: str | None = None) -> list[Match]:
        """Entries of the same group that are *not* the same customer: a name whose core matches
        ``company``'s (at ``threshold``) but with another branch (``…大庆油田分公司`` and
        ``…长庆油田分公司``, a branch and its head office) or another region. Signal
        ``"related_company"``; order as :meth:`find`."""
        parsed = parse_company(company) if self.company_matching else None
        hits: dict[int, _Hit] = {}
        if parsed is not None:
            for pos, score in self._name_candidates(parsed, related=True):
                shown = self._raw_names[pos]
                self._hit(
                    hits,
                    pos,
                    score / 100.0,
                    "related_company",
                    f"same group, another branch or region: {company} ~ {shown}",
                )
        return [
            Match(self._ids[pos], hit.score, tuple(hit.signals), tuple(hit.reasons))
            for pos, hit in sorted(hits.items(), key=lambda kv: (-kv[1].score, kv[0]))
            if self._ids[pos] != exclude
        ]

    def find_lead(self, lead: Lead) -> list[Match]:
        """:meth:`find` for a lead's phone, e-mail and company (itself excluded)."""
        return self.find(phone=lead.phone, email=lead.email, company=lead.company, exclude=lead.id)

    @staticmethod
    def _hit(hits: dict[int, _Hit], pos: int, score: float, signal: str, reason: str) -> None:
        hit = hits.get(pos)
        if hit is None:
            hit = hits[pos] = _Hit()
        if signal in hit.signals:
            return
        hit.score = max(hit.score, score)
        hit.signals.append(signal)
        hit.reasons.append(reason)

    def _name_candidates(
        self, parsed: CompanyName, *, related: bool
    ) -> Iterator[tuple[int, float]]:
        """Positions whose core is similar to ``parsed.core`` (≥ ``threshold``) and whose
        qualifiers are compatible with it (``related``: incompatible), with the similarity."""
        require("rapidfuzz", "team")
        from rapidfuzz import fuzz, process

        name = parsed.core
        regions, branches = self._regions, self._branches
        region, branch = parsed.region, parsed.branch
        seen: set[int] = set()
        for pos in self._exact_name.get(name, ()):
            seen.add(pos)
            agree = _qualifiers_agree(region, branch, regions[pos], branches[pos])
            if agree is not related:
                yield pos, 100.0
        n = len(name)
        need = _positions_to_cover(n, self.threshold)
        grams = self._grams
        empty: array[int] = array("l")
        counts: dict[str, int] = {}
        if n < 2:
            counts[name] = 1
        for i in range(n - 1):
            gram = name[i : i + 2]
            counts[gram] = counts.get(gram, 0) + 1
        ranked = sorted(counts, key=lambda g: (len(grams.get(g, empty)), g))
        blocks: list[array[int]] = []
        covered = 0
        for gram in ranked:
            block = grams.get(gram, empty)
            if len(block) > self.max_block and blocks:
                break  # a stop-bigram: far too common to tell names apart
            blocks.append(block)
            covered += counts[gram]
            if need is not None and covered >= need:
                break
        candidates: set[int] = set()
        for block in blocks:
            candidates.update(block)  # C speed: blocks are int arrays
        candidates -= seen
        if not candidates:
            return
        self.candidates_examined += len(candidates)
        names = self._names
        positions = [p for p in candidates if names[p] is not None]
        # rapidfuzz compares in C and drops everything under the cutoff (its length filter too);
        # only the few names above it have their qualifiers checked in Python.
        hits = process.extract(
            name,
            [names[p] for p in positions],
            scorer=fuzz.ratio,
            score_cutoff=self.threshold,
            limit=None,
        )
        for _, score, i in hits:
            pos = positions[i]
            if _qualifiers_agree(region, branch, regions[pos], branches[pos]) is not related:
                yield pos, float(score)
