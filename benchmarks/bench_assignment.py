"""Team layer: routing 100,000 leads with rules and load limits; duplicate check of 100,000 new
leads against 1,000,000 existing contacts, and its growth from 250,000 to 1,000,000 contacts.

Synthetic data (deterministic, seed 7): mainland mobiles, e-mails, Chinese company names built
from a city, a two- or three-character brand, an industry word and a legal suffix. One new lead in
ten is a planted duplicate of an existing contact written differently (phone with +86 and spaces,
e-mail with upper case and +tag on Gmail, company with a different legal suffix or full-width
letters); the note reports how many were found.

Baseline for the duplicate check: a brute-force scan (exact phone/e-mail comparison and
``rapidfuzz.process.extract`` over every normalised company name, C++), timed on 100 new leads and
extrapolated linearly to all of them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks._harness import Row, median_time
from pipeline_core.assignment import Router, RoutingPolicy
from pipeline_core.identity import (
    DedupIndex,
    normalise_company,
    normalise_email,
    normalise_phone,
)
from pipeline_core.records import Lead, LeadStatus

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "苏州", "成都", "武汉", "西安",
          "重庆", "天津", "长沙", "郑州", "青岛", "厦门", "宁波", "合肥", "济南", "沈阳"]  # fmt: skip
INDUSTRY = [
    "科技",
    "贸易",
    "制造",
    "信息技术",
    "新能源",
    "医疗器械",
    "教育科技",
    "家具",
    "物流",
    "咨询",
]
SUFFIX = ["有限公司", "股份有限公司", "有限责任公司", "集团有限公司"]
HANZI = [chr(c) for c in range(0x4E00, 0x4E00 + 1200)]
TERRITORIES = {
    "east-china": ["上海", "杭州", "南京", "苏州", "宁波", "合肥"],
    "south-china": ["广州", "深圳", "厦门"],
    "north-china": ["北京", "天津", "济南", "青岛", "沈阳"],
    "west-china": ["成都", "重庆", "西安"],
}


def _contacts(n: int, rng: random.Random) -> list[tuple[str, str, str, str]]:
    out = []
    for i in range(n):
        brand = "".join(rng.choices(HANZI, k=rng.choice((2, 3))))
        company = rng.choice(CITIES) + brand + rng.choice(INDUSTRY) + rng.choice(SUFFIX)
        # mobiles in assigned ranges (13x, 18x): only valid numbers are normalised
        phone = f"1{rng.choice('38')}{rng.randrange(10**9):09d}"
        email = f"u{i}x{rng.randrange(10**6)}@{rng.choice(['gmail.com', 'qq.com', '163.com', 'corp.cn'])}"
        out.append((f"c{i}", phone, email, company))
    return out


def _variant(row: tuple[str, str, str, str], rng: random.Random) -> dict[str, Any]:
    _, phone, email, company = row
    kind = rng.randrange(3)
    if kind == 0:
        return {"phone": f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"}
    if kind == 1:
        local, _, domain = email.partition("@")
        tag = "+crm" if domain == "gmail.com" else ""
        return {"email": f"{local.upper()}{tag}@{domain.upper()}"}
    core = normalise_company(company) or company
    return {"company": core + rng.choice(["有限公司", "（集团）", " Co., Ltd."])}


def _new_leads(
    existing: list[tuple[str, str, str, str]], n: int, rng: random.Random
) -> tuple[list[dict[str, Any]], set[int]]:
    fresh = _contacts(n, random.Random(rng.random()))
    planted: set[int] = set()
    queries: list[dict[str, Any]] = []
    for i in range(n):
        if i % 10 == 0:
            planted.add(i)
            q = _variant(existing[rng.randrange(len(existing))], rng)
            q["planted"] = True
        else:
            _, p, e, c = fresh[i]
            q = {"phone": "139" + p[3:], "email": "n" + e, "company": c}
        queries.append(q)
    return queries, planted


def _build(rows: list[tuple[str, str, str, str]]) -> DedupIndex:
    idx = DedupIndex()
    add = idx.add
    for cid, phone, email, company in rows:
        add(cid, phone=phone, email=email, company=company)
    return idx


def _check(idx: DedupIndex, queries: list[dict[str, Any]]) -> int:
    found = 0
    for q in queries:
        if idx.find(phone=q.get("phone"), email=q.get("email"), company=q.get("company")) and q.get(
            "planted"
        ):
            found += 1
    return found


def _brute(rows: list[tuple[str, str, str, str]], queries: list[dict[str, Any]]) -> float:
    from rapidfuzz import fuzz, process

    phones = [normalise_phone(r[1]) for r in rows]
    emails = [normalise_email(r[2]) for r in rows]
    names = [normalise_company(r[3]) or "" for r in rows]

    def scan() -> None:
        for q in queries:
            p, e = normalise_phone(q.get("phone")), normalise_email(q.get("email"))
            _ = [i for i, x in enumerate(phones) if p is not None and x == p]
            _ = [i for i, x in enumerate(emails) if e is not None and x == e]
            c = normalise_company(q.get("company"))
            if c is not None:
                process.extract(c, names, scorer=fuzz.ratio, score_cutoff=90, limit=None)

    return median_time(scan, repeat=1, warmup=0)


def _routing_rows(n: int, rng: random.Random) -> list[Row]:
    reps = [
        {"id": f"rep{i:02d}", "max_open": 2_500, "monthly_capacity": 60_000, "weight": 1 + i % 3}
        for i in range(50)
    ]
    rules = [
        {"name": name, "territory": cities, "reps": [f"rep{j:02d}" for j in range(k * 10, k * 10 + 10)],
         "strategy": ["round_robin", "weighted", "least_loaded", "round_robin"][k]}
        for k, (name, cities) in enumerate(TERRITORIES.items())
    ] + [
        {"name": "finance-a", "industry": ["finance"], "grade": ["A"], "reps": ["rep40", "rep41"]},
        {"name": "events", "source": ["event"], "reps": ["rep42", "rep43", "rep44"]},
        {"name": "english", "language": ["en"], "reps": ["rep45", "rep46"], "strategy": "least_loaded"},
        {"name": "referral", "source": ["referral"], "reps": ["rep47", "rep48", "rep49"], "strategy": "weighted"},
    ]  # fmt: skip
    policy = RoutingPolicy.from_dict(
        {"reps": reps, "rules": rules, "default": [f"rep{j:02d}" for j in range(40, 50)]}
    )
    leads = [
        Lead._trusted(
            {
                "id": f"l{i}",
                "created_at": T0 + timedelta(seconds=30 * i),
                "source": rng.choice(["website", "event", "referral", "social_media"]),
                "region": rng.choice(CITIES),
                "industry": rng.choice(["finance", "retail", "manufacturing"]),
                "status": LeadStatus.NEW,
                "custom": {"grade": rng.choice("ABC"), "language": rng.choice(["zh", "zh", "en"])},
            }
        )
        for i in range(n)
    ]
    result: dict[str, Any] = {}

    def run() -> None:
        result["d"] = Router(policy).route_all(leads)

    t = median_time(run, repeat=3, warmup=0)
    queued = sum(1 for d in result["d"] if d.owner_id is None)
    return [
        Row(
            f"routing {n:,} leads (50 reps, 8 rules, load + daily quota)",
            t,
            note=f"{queued:,} to the fallback queue; {n / t:,.0f} leads/s",
        )
    ]


def run(scale: float) -> list[Row]:
    """The rows of the team-layer benchmarks at ``scale`` (1.0: the sizes of the issue)."""
    rng = random.Random(7)
    n_leads = max(1_000, int(100_000 * scale))
    big = max(4_000, int(1_000_000 * scale))
    small = big // 4
    rows = _routing_rows(n_leads, rng)
    existing = _contacts(big, rng)
    queries, planted = _new_leads(existing[:small], n_leads, rng)  # duplicates of the first quarter

    timings: dict[int, tuple[float, float, int]] = {}
    for size in (small, big):
        part = existing[:size]
        holder: dict[str, DedupIndex] = {}

        def build(
            part: list[tuple[str, str, str, str]] = part, holder: dict[str, DedupIndex] = holder
        ) -> None:
            holder["idx"] = _build(part)

        t_build = median_time(build, repeat=1, warmup=0)
        found: dict[str, int] = {}

        def check(holder: dict[str, DedupIndex] = holder, found: dict[str, int] = found) -> None:
            found["n"] = _check(holder["idx"], queries)

        t_check = median_time(check, repeat=1, warmup=0)
        timings[size] = (t_build, t_check, found["n"])
        del holder["idx"]

    b_small, c_small, _ = timings[small]
    b_big, c_big, found_big = timings[big]
    sample = queries[:100]
    brute = _brute(existing, sample) * (len(queries) / len(sample))
    rows += [
        Row(f"dedup index build: {big:,} contacts", b_big, note=f"{big / b_big:,.0f} contacts/s"),
        Row(
            f"dedup check {n_leads:,} leads vs {big:,} contacts",
            c_big,
            brute,
            "brute-force scan (rapidfuzz C++), extrapolated from 100 leads",
            note=f"planted duplicates found: {found_big:,}/{len(planted):,}",
        ),
        Row(f"dedup build + check vs {small:,} contacts", b_small + c_small, note=f"check alone {c_small:.2f} s"),
        Row(f"dedup build + check vs {big:,} contacts", b_big + c_big, b_small + c_small, f"same at {small:,}",
            note=f"growth for 4x contacts: {(b_big + c_big) / (b_small + c_small):.2f}x total, "
                 f"{c_big / c_small:.2f}x check alone (linear = 4x)"),
    ]  # fmt: skip
    return rows
