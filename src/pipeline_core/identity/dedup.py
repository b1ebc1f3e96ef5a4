"""Duplicate detection on intake: an index of contact keys and company names that stays near-linear.

:class:`DedupIndex` holds exact-key hash maps for phones and e-mails
(:mod:`pipeline_core.identity.normalise`) and for normalised company names
(:mod:`pipeline_core.identity.company`), plus a blocking index of company-name character bigrams.
Every :class:`Match` says why it matched.

A fuzzy company match (``rapidfuzz`` ``ratio`` on the names' cores, at least ``threshold``,
qualifiers agreeing) is only computed for names found in the blocks of some of the query's
bigrams, so checking a lead costs about the same against 1,000 or 1,000,000 contacts. Only the
query's *rarest* bigrams are probed: a ratio of at least t bounds the indel distance d to a match
by ``(1 - t) · 2n / t`` for a query of n characters, and d edits leave at least ``n - 1 - 2d`` of
the query's ``n - 1`` bigram positions intact (the q-gram lemma), so probing bigrams that cover
``2d + 1`` positions, rarest first, cannot miss a match. Names too short for that are probed
through every bigram, which is lossless for ``threshold > 80`` (two strings with no bigram in
common have a ratio of at most 80 unless both are one character, which the exact map catches).

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
from array import array
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

import attrs

from pipeline_core._optional import require
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.identity.company import CompanyName, parse_company, qualifiers_agree
from pipeline_core.identity.normalise import (
    PLUS_ADDRESSING_DOMAINS,
    normalise_email,
    normalise_phone,
)
from pipeline_core.records import Contact, Lead

__all__ = ["DedupIndex", "Match"]


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
        return self._matches(hits, exclude)

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
        return self._matches(hits, exclude)

    def _matches(self, hits: dict[int, _Hit], exclude: str | None) -> list[Match]:
        # strongest first, then insertion order of the existing entries; `exclude` left out
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
            agree = qualifiers_agree(region, branch, regions[pos], branches[pos])
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
            if qualifiers_agree(region, branch, regions[pos], branches[pos]) is not related:
                yield pos, float(score)
