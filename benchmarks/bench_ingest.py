"""Ingest benchmarks (issue #19, deliver 6): a messy lead export through a mapping into a store.

At scale 1.0: a 1,000,000-row CSV of leads (Chinese headers, ``￥1,200.50`` / ``30万`` amounts,
``2025/3/21 9:01`` / ``2025年3月21日`` instants, aliases 决策人/强/中/弱, tags ``a、b``, owners by
name), generated from a fixed seed and cached in the system temp dir, and a 100,000-row ``.xlsx``
of the same rows (written once with openpyxl, cached too).

- **ours** = the full path: ``read_rows`` → ``map_rows`` (owners matched against 60 users) →
  ``sync(..., external_id=...)`` into a fresh SQLite or PostgreSQL store.
- **baseline** = a hand-written loader doing the same work: ``polars.read_csv`` (every column as
  text), the same value conversions written by hand (money, instants in Asia/Shanghai, aliases,
  owners, tags, yes/no), a plain pydantic model of the same fields (every field of the stored
  lead document, with the same bounds, so both write the same JSON), then raw ``executemany`` in
  batches of 10,000 in one transaction (SQLite) / one raw ``COPY`` (PostgreSQL) into the same
  schema (the row's columns and its JSON document).

Each load runs in a fresh subprocess: the time is measured inside it (imports excluded) and the
process's peak RSS is the ``ru_maxrss`` of that child (``os.wait4``, i.e. ``RUSAGE_CHILDREN`` of
that one child). Targets: ratio <= 1.5, peak RSS <= 300 MB at 1,000,000 rows.

PostgreSQL rows need ``PIPELINE_CORE_TEST_POSTGRES_URL`` (or ``PIPELINE_CORE_BENCH_POSTGRES_URL``).

Run one load by hand: ``python -m benchmarks.bench_ingest ours sqlite 100000``.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from benchmarks._harness import Row

SEED = 19
AT = datetime(2025, 6, 1, 9, tzinfo=UTC)
HEADERS = (
    "线索编号",
    "创建时间",
    "来源",
    "公司",
    "联系人",
    "电话",
    "预算(元)",
    "决策权",
    "需求强度",
    "决策周期",
    "负责人",
    "标签",
    "是否有效",
)
SOURCES = {"官网": "website", "展会": "event", "转介绍": "referral", "社交媒体": "social_media"}
AUTHORITY = {"决策人": "decision_maker", "影响者": "influencer", "使用者": "user", "无": "none"}
NEED = {"强": "strong", "中": "medium", "弱": "weak"}
TIMELINE = {
    "1个月内": "within_1_month",
    "1-3个月": "1_3_months",
    "3-6个月": "3_6_months",
    "6个月以上": "over_6_months",
    "暂无计划": "no_plan",
}
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明")
_CITIES = ("北京", "上海", "深圳", "杭州", "成都", "武汉", "南京", "苏州", "西安", "广州")
_TRADES = ("科技", "信息技术", "智能制造", "软件", "数智科技", "新能源", "教育科技", "医疗器械")
_TAGS = ("制造业", "重点客户", "SaaS", "试用中", "教育", "续费", "大客户", "华东", "渠道")
N_USERS = 60

MAPPING_TOML = """\
record = "lead"
currency = "CNY"
timezone = "Asia/Shanghai"
time_of_day = "09:00"
external_id = "线索编号"

[columns]
"线索编号" = "id"
"创建时间" = "created_at"
"来源" = { field = "source", aliases = { "官网" = "website", "展会" = "event", "转介绍" = "referral", "社交媒体" = "social_media" } }
"公司" = "company"
"联系人" = "contact_name"
"电话" = "phone"
"预算(元)" = "budget"
"决策权" = { field = "authority", aliases = { "决策人" = "decision_maker", "影响者" = "influencer", "使用者" = "user", "无" = "none" } }
"需求强度" = { field = "need", aliases = { "强" = "strong", "中" = "medium", "弱" = "weak" } }
"决策周期" = { field = "timeline", aliases = { "1个月内" = "within_1_month", "1-3个月" = "1_3_months", "3-6个月" = "3_6_months", "6个月以上" = "over_6_months", "暂无计划" = "no_plan" } }
"负责人" = "owner_id"
"标签" = "tags"
"是否有效" = { field = "custom.valid", parse = "bool" }

[defaults]
source = "import"
"""


def _user_names() -> list[str]:
    rng = random.Random(SEED + 1)
    names: list[str] = []
    while len(names) < N_USERS:
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(("", *_GIVEN))
        if name not in names:
            names.append(name)
    return names


def _users() -> list[Any]:
    from pipeline_core.records import Role, User

    return [
        User(id=f"u{i:03d}", name=name, role=Role.AE, email=f"u{i:03d}@example.com")
        for i, name in enumerate(_user_names())
    ]


def _rows(n: int) -> Iterator[list[str]]:
    """The seeded messy rows (text cells)."""
    rng = random.Random(SEED)
    owners = _user_names()
    base = datetime(2024, 1, 1, 8, 0)
    for i in range(n):
        at = base + timedelta(minutes=i // 2 + rng.randrange(60))
        style = rng.random()
        if style < 0.6:
            created = f"{at.year}/{at.month}/{at.day} {at.hour}:{at.minute:02d}"
        elif style < 0.85:
            created = at.strftime("%Y-%m-%d %H:%M")
        else:
            created = f"{at.year}年{at.month}月{at.day}日"
        kind = rng.random()
        if kind < 0.35:
            budget = f"￥{rng.randrange(10, 5000) * 100:,}.50"
        elif kind < 0.65:
            budget = f"{rng.randrange(1, 300)}万"
        elif kind < 0.9:
            budget = f"{rng.randrange(10, 999) * 1000:,}"
        else:
            budget = ""
        tags = "、".join(rng.sample(_TAGS, rng.randrange(0, 3)))
        if rng.random() < 0.2:
            tags = tags.replace("、", ",")
        yield [
            f"XS-{i:07d}",
            created,
            rng.choice((*SOURCES, "")),
            f"{rng.choice(_CITIES)}{rng.choice(_TRADES)}有限公司{rng.randrange(20000)}",
            rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(("", *_GIVEN)),
            f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
            budget,
            rng.choice(tuple(AUTHORITY)),
            rng.choice(tuple(NEED)),
            rng.choice(tuple(TIMELINE)),
            rng.choice(owners),
            tags,
            rng.choice(("是", "否")),
        ]


def _cache_dir() -> Path:
    d = Path(tempfile.gettempdir()) / "pipeline_core_bench_ingest"
    d.mkdir(exist_ok=True)
    return d


def csv_file(n: int) -> Path:
    """The cached n-row lead CSV (UTF-8, generated once)."""
    import csv

    path = _cache_dir() / f"leads_{n}_{SEED}.csv"
    if not path.exists():
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(HEADERS)
            w.writerows(_rows(n))
        os.replace(tmp, path)
    return path


def xlsx_file(n: int) -> Path:
    """The cached n-row lead workbook (written once with openpyxl, write-only mode)."""
    path = _cache_dir() / f"leads_{n}_{SEED}.xlsx"
    if not path.exists():
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("leads")
        sheet.append(HEADERS)
        for row in _rows(n):
            sheet.append(row)
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        book.save(tmp)
        os.replace(tmp, path)
    return path


def mapping_file() -> Path:
    path = _cache_dir() / "leads.toml"
    path.write_text(MAPPING_TOML, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- ours


def _open_store(backend: str, target: str) -> Any:
    if backend == "sqlite":
        from pipeline_core.storage import SQLiteStore

        return SQLiteStore(target)
    from pipeline_core.storage import PostgresStore

    url, schema = target.rsplit("#", 1)
    return PostgresStore(url, schema=schema)


def ours(backend: str, source: Path, target: str, report: str | None = None) -> int:
    """The library's full path; returns the number of rows added."""
    from pipeline_core.ingest import load_mapping, map_rows, read_rows, sync

    mapping = load_mapping(mapping_file())
    store = _open_store(backend, target)
    try:
        with read_rows(source) as src:
            rows = map_rows(src, mapping, users=_users())
            result = sync(
                store,
                "lead",
                rows,
                external_id=mapping.external_id,
                by="importer",
                at=AT,
                report=report,
            )
    finally:
        store.close()
    return result.added


# --------------------------------------------------------------------------- the baseline

_ZONE = ZoneInfo("Asia/Shanghai")
_WALL = re.compile(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?: (\d{1,2}):(\d{2}))?")
_CJK = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_MONEY = re.compile(r"(￥)?([0-9][0-9,]*(?:\.[0-9]+)?)(万)?")
_SPLIT = re.compile("[、,;，；]")


def _b_instant(text: str) -> datetime:
    m = _WALL.fullmatch(text) or _CJK.fullmatch(text)
    if m is None:
        raise ValueError(text)
    y, mo, d = int(m[1]), int(m[2]), int(m[3])
    h, mi = (
        (9, 0) if m.lastindex is None or m.lastindex < 4 or m[4] is None else (int(m[4]), int(m[5]))
    )
    return datetime(y, mo, d, h, mi, tzinfo=_ZONE)


def _b_money(text: str) -> dict[str, Any] | None:
    if not text:
        return None
    m = _MONEY.fullmatch(text.strip())
    if m is None:
        raise ValueError(text)
    amount = Decimal(m[2].replace(",", ""))
    if m[3]:
        amount = amount.scaleb(4).quantize(Decimal(1))
    return {"amount": amount, "currency": "CNY"}


def _baseline_model() -> Any:
    import pydantic
    from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

    class MoneyIn(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        amount: Annotated[Decimal, Field(ge=0, max_digits=22, decimal_places=2)]
        currency: Annotated[str, Field(min_length=3, max_length=3)]

    class NextStepIn(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        action: Annotated[str, Field(min_length=1, max_length=2_000)]
        due_at: AwareDatetime

    Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^\S+$")]
    Name = Annotated[str, Field(min_length=1, max_length=300)]
    Short = Annotated[str, Field(max_length=2_000)]

    class LeadIn(BaseModel):
        """Every field of the stored lead document (``records.Lead``), with the same bounds:
        the baseline validates and writes the same document, not a smaller one."""

        model_config = ConfigDict(extra="forbid", frozen=True)
        id: Id
        created_at: AwareDatetime
        source: Annotated[str, Field(min_length=1, max_length=64)]
        company: Name | None = None
        contact_name: Name | None = None
        phone: Annotated[str, Field(min_length=3, max_length=40)] | None = None
        email: (
            Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None
        ) = None
        industry: Short | None = None
        company_size: Annotated[int, Field(ge=0, le=10_000_000, strict=True)] | None = None
        region: Short | None = None
        needs: Annotated[str, Field(max_length=200_000)] | None = None
        pain_points: tuple[Annotated[str, Field(min_length=1, max_length=300)], ...] = ()
        intent: Literal["high", "medium", "low"] | None = None
        budget: MoneyIn | None = None
        authority: Literal["decision_maker", "influencer", "user", "none"] | None = None
        need: Literal["strong", "medium", "weak"] | None = None
        timeline: (
            Literal["within_1_month", "1_3_months", "3_6_months", "over_6_months", "no_plan"] | None
        ) = None
        expected_amount: MoneyIn | None = None
        owner_id: Id | None = None
        status: Literal["new", "working", "nurturing", "converted", "disqualified"] = "new"
        next_step: NextStepIn | None = None
        account_id: Id | None = None
        contact_id: Id | None = None
        opportunity_id: Id | None = None
        disqualified_reason: Short | None = None
        tags: frozenset[Annotated[str, Field(min_length=1, max_length=100)]] = frozenset()
        custom: dict[str, str | bool | int | float | None] = {}
        version: Annotated[int, Field(ge=1, strict=True)] = 1
        graded_at: AwareDatetime | None = None

    del pydantic
    return LeadIn


def _baseline_leads(
    records: Iterable[Mapping[str, str]], owners: Mapping[str, str]
) -> Iterator[Any]:
    model = _baseline_model()
    for r in records:
        source = r["来源"] or ""
        tags_text = r["标签"] or ""
        yield model(
            id=r["线索编号"],
            created_at=_b_instant(r["创建时间"].strip()),
            source=SOURCES.get(source, source) if source else "import",
            company=r["公司"] or None,
            contact_name=r["联系人"] or None,
            phone=r["电话"] or None,
            budget=_b_money(r["预算(元)"] or ""),
            authority=AUTHORITY[r["决策权"]],
            need=NEED[r["需求强度"]],
            timeline=TIMELINE[r["决策周期"]],
            owner_id=owners[r["负责人"]],
            tags=frozenset(t.strip() for t in _SPLIT.split(tags_text) if t.strip()),
            custom={"valid": r["是否有效"] == "是", "external_id:线索编号": r["线索编号"]},
        )


def _micros(t: datetime) -> int:
    d = t - datetime(1970, 1, 1, tzinfo=UTC)
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


_COLS = "id, version, created_at, source, owner_id, status, due_at, account_id, opportunity_id, company, doc"


def baseline(backend: str, source: Path, target: str) -> int:
    """The hand-written loader; returns the number of rows loaded."""
    import polars as pl

    owners = {u.name: u.id for u in _users()}
    if source.suffix == ".xlsx":
        import python_calamine

        book = python_calamine.CalamineWorkbook.from_path(str(source))
        it = iter(book.get_sheet_by_index(0).iter_rows())
        head = next(it)
        records: Iterable[Mapping[str, str]] = (
            dict(zip(head, (str(c) for c in row), strict=False)) for row in it
        )
    else:
        frame = pl.read_csv(source, infer_schema=False)
        records = frame.iter_rows(named=True)
    leads = _baseline_leads(records, owners)
    n = 0
    store = _open_store(backend, target)  # the same schema
    store.close()
    if backend == "sqlite":
        import sqlite3

        conn = sqlite3.connect(target, isolation_level=None)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")  # the schema's tag -> record reference, enforced
        conn.execute("BEGIN IMMEDIATE")
        sql = f"INSERT INTO leads ({_COLS}) VALUES ({', '.join('?' * 11)})"
        batch: list[tuple[Any, ...]] = []
        tags: list[tuple[str, str]] = []
        for lead in leads:
            batch.append(
                (lead.id, 1, _micros(lead.created_at), lead.source, lead.owner_id, "new",
                 None, None, None, lead.company, lead.model_dump_json())
            )  # fmt: skip
            tags.extend((lead.id, t) for t in lead.tags)
            if len(batch) == 10_000:
                conn.executemany(sql, batch)
                conn.executemany("INSERT INTO leads_tags (id, tag) VALUES (?, ?)", tags)
                n += len(batch)
                batch, tags = [], []
        conn.executemany(sql, batch)
        conn.executemany("INSERT INTO leads_tags (id, tag) VALUES (?, ?)", tags)
        n += len(batch)
        conn.execute("COMMIT")
        conn.close()
        return n
    import psycopg

    url, schema = target.rsplit("#", 1)
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(f'SET search_path TO "{schema}"')
        tag_rows: list[tuple[str, str]] = []
        with pg.transaction(), pg.cursor() as cur:
            with cur.copy(f"COPY leads ({_COLS}) FROM STDIN") as copy:
                for lead in leads:
                    copy.write_row(
                        (lead.id, 1, lead.created_at, lead.source, lead.owner_id, "new",
                         None, None, None, lead.company, lead.model_dump_json())
                    )  # fmt: skip
                    tag_rows.extend((lead.id, t) for t in lead.tags)
                    n += 1
            with cur.copy("COPY leads_tags (id, tag) FROM STDIN") as copy:
                for row in tag_rows:
                    copy.write_row(row)
    return n


# --------------------------------------------------------------------------- the runs


def _pg_url() -> str | None:
    return (
        os.environ.get("PIPELINE_CORE_BENCH_POSTGRES_URL")
        or os.environ.get("PIPELINE_CORE_TEST_POSTGRES_URL")
        or None
    )


def _child(which: str, backend: str, source: Path, target: str) -> tuple[float, float, int, float]:
    """Run one load in a fresh interpreter: (wall seconds inside it, peak RSS in MB, rows, CPU
    seconds of the child's whole life, imports included: steadier than wall time on a busy
    machine)."""
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(root / "src"), str(root), env.get("PYTHONPATH", "")) if p
    )
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_ingest", which, backend, str(source), target],
            stdout=out,
            env=env,
            cwd=root,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{which} {backend} failed ({proc.returncode}): {text[-2000:]}")
    result = json.loads(text.strip().splitlines()[-1])
    cpu = usage.ru_utime + usage.ru_stime
    return result["seconds"], usage.ru_maxrss / 1024, result["rows"], cpu


def _target(backend: str, tmp: Path) -> str:
    if backend == "sqlite":
        return str(tmp / f"{uuid.uuid4().hex}.db")
    return f"{_pg_url()}#pc_bench_ingest_{uuid.uuid4().hex[:10]}"


def _drop(backend: str, target: str) -> None:
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(target + suffix).unlink(missing_ok=True)
        return
    import psycopg

    url, schema = target.rsplit("#", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _pair(backend: str, source: Path, tmp: Path, label: str, n: int) -> list[Row]:
    results = {}
    for which in ("ours", "baseline"):
        target = _target(backend, tmp)
        try:
            results[which] = _child(which, backend, source, target)
        finally:
            _drop(backend, target)
    t_ours, rss_ours, rows, cpu_ours = results["ours"]
    t_base, rss_base, _, cpu_base = results["baseline"]
    base_name = {
        "sqlite": "polars + pydantic + executemany",
        "postgres": "polars + pydantic + COPY",
    }
    if source.suffix == ".xlsx":
        base_name = {k: v.replace("polars", "calamine") for k, v in base_name.items()}
    return [
        Row(
            f"{label}: {n:,}-row {source.suffix[1:]} of leads → {backend} via mapping",
            t_ours,
            t_base,
            base_name[backend],
            f"{rows / t_ours:,.0f} rows/s (baseline {n / t_base:,.0f}); "
            f"CPU {cpu_ours:,.1f} s vs {cpu_base:,.1f} s (ratio {cpu_ours / cpu_base:.2f})",
        ),
        Row(
            f"{label}: peak RSS, {n:,}-row {source.suffix[1:]} → {backend}",
            rss_ours,
            rss_base,
            "the baseline's process",
            "whole process (ru_maxrss); target <= 300 MB at 1M rows",
            unit="MB",
        ),
    ]


def run(scale: float) -> list[Row]:
    """The ingest rows of the benchmark table."""
    n = max(1_000, int(1_000_000 * scale))
    n_xlsx = max(1_000, int(100_000 * scale))
    source = csv_file(n)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rows += _pair("sqlite", source, tmp, "CSV", n)
        if _pg_url() is None:
            rows.append(
                Row("CSV → PostgreSQL", None, note="not run: set PIPELINE_CORE_TEST_POSTGRES_URL")
            )
        else:
            rows += _pair("postgres", source, tmp, "CSV", n)
        rows += _pair("sqlite", xlsx_file(n_xlsx), tmp, "xlsx", n_xlsx)
    return rows


def _main(argv: list[str]) -> int:
    which, backend, source, target = argv
    fn = ours if which == "ours" else baseline
    if which == "ours":
        import pipeline_core.ingest
        import pipeline_core.storage  # noqa: F401
    else:
        import polars  # noqa: F401
        import pydantic  # noqa: F401
    start = time.perf_counter()
    count = fn(backend, Path(source), target)
    print(json.dumps({"seconds": time.perf_counter() - start, "rows": count}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5:
        raise SystemExit(_main(sys.argv[1:]))
    # python -m benchmarks.bench_ingest ours sqlite 100000: one load with a profile
    which, backend, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import cProfile
    import pstats

    path = csv_file(count)
    with tempfile.TemporaryDirectory() as d:
        tgt = _target(backend, Path(d))
        fn = ours if which == "ours" else baseline
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.runcall(fn, backend, path, tgt)
        print(f"{time.perf_counter() - t0:.2f} s", file=sys.stderr)
        _drop(backend, tgt)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
