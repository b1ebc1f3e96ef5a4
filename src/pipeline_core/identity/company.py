"""Company names as a sales team reads them: core, region and branch, and their similarity.

:func:`normalise_company`: NFKC (full-width to half-width), case-folded, punctuation removed,
spaces next to CJK characters removed, legal suffixes (有限公司, 股份有限公司, Co., Ltd., Inc.,
GmbH ...) stripped from the end. As a sales team reads names, the key keeps apart what tells
customers apart (:func:`parse_company`): a *region* written in brackets or in front
(``某某科技（北京）有限公司``, ``北京某某科技有限公司``) is one qualifier, a *branch*
(``…大庆油田分公司``, ``…深圳分行``, ``…办事处``: :data:`BRANCH_SUFFIXES`) another. Two names
match when their cores are similar, their branches are the same (two branches of one group, or
a branch and its head office, are related customers, not one:
:meth:`pipeline_core.identity.dedup.DedupIndex.related`), and their regions do not contradict each
other (a name without a region matches one with it: :func:`qualifiers_agree`).

``rapidfuzz`` is imported lazily (extra ``team``) by :func:`company_similarity`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

import attrs

from pipeline_core._optional import require

__all__ = [
    "BRANCH_SUFFIXES",
    "COMPANY_SUFFIXES",
    "LATIN_BRANCH_WORDS",
    "REGIONS",
    "CompanyName",
    "company_similarity",
    "normalise_company",
    "parse_company",
    "qualifiers_agree",
]

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
    core = _bare_core(text)
    if branch is None:
        # A branch ending hidden behind punctuation or a legal suffix (``a分行)``,
        # ``a分行有限公司``) shows only now: split it here too, else the key (``a分行``) would read
        # back as another name (core ``a``, branch ``分行``).
        head, found = _split_branch(core)
        if found is not None:
            core, branch = _bare_core(head), found
    if region is None:
        region, core = _front_region(core)
        core = _strip_suffixes(core)
    if not core:
        return None
    return CompanyName(core, region, branch)


def _bare_core(text: str) -> str:
    """``text`` cleaned and its legal suffixes stripped, to the fixed point."""
    core = text
    for _ in range(8):  # reach the fixed point (one pass is enough for real names)
        nxt = _strip_suffixes(_clean(core))
        if nxt == core:
            break
        core = nxt
    return core


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


def qualifiers_agree(
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
    if pa is None or pb is None or not qualifiers_agree(pa.region, pa.branch, pb.region, pb.branch):
        return 0.0
    return float(fuzz.ratio(pa.core, pb.core))
