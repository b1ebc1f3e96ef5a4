"""``pipeline-core import KIND FILE --mapping M`` and ``pipeline-core mapping ...``, end to end.

Every expected figure is worked out from the shipped sample by hand: 30 data rows (rows 2-31), the
owners 张伟 / 李娜 (also written li.na@example.com) / 王芳 (also written " 王芳 ") and once by
the id u-zhangwei; XS-2025001 has the budget "200,000" (CNY 200,000) and the owner 张伟.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core import storage
from pipeline_core.cli import main
from pipeline_core.cli._newfile import new_sqlite_file, sqlite_path
from pipeline_core.cli.ingest import SHOWN_PROBLEMS, sheet_option
from pipeline_core.cli.mapping import SAMPLE_FILES
from pipeline_core.ingest import load_mapping, map_rows, read_rows
from pipeline_core.records import Money, User

USERS_CSV = "id,name,role,email\nu-zhangwei,张伟,ae,\nu-lina,李娜,ae,li.na@example.com\nu-wangfang,王芳,sdr,\n"


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    code, out, _ = cli("mapping", "sample", str(tmp_path / "s"))
    assert code == 0
    assert out.count("wrote ") == 2
    return tmp_path / "s"


def _with_users(tmp_path: Path) -> str:
    users = tmp_path / "users.csv"
    users.write_text(USERS_CSV, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    assert cli("import", "user", str(users), "--store", url)[0] == 0
    return url


def _import(sample: Path, url: str, *more: str) -> tuple[int, str, str]:
    return cli(
        "import", "lead", str(sample / "leads_gbk.csv"), "--mapping",
        str(sample / "leads_gbk.toml"), "--store", url, *more,
    )  # fmt: skip


def test_the_sample_imports_into_a_new_file_then_a_second_run_is_all_unchanged(
    sample: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    code, out, err = _import(sample, url, "--create-users")
    assert (code, err) == (0, "")
    assert "encoding gb18030, detected" in out
    assert "lead: 30 added, 0 updated, 0 unchanged, 0 rejected" in out
    # the five spellings of owners, each a new user: 张伟 李娜 王芳 li.na@example.com u-zhangwei
    assert "user: 5 created" in out
    code, out, _ = _import(sample, url, "--create-users")
    assert code == 0
    assert "lead: 0 added, 0 updated, 30 unchanged, 0 rejected" in out
    assert "user:" not in out  # the owners now match the users the first run created
    with storage.open(url) as store:
        leads = {lead.id: lead for lead in store.leads.all()}
        assert len(leads) == 30
        assert leads["XS-2025001"].budget == Money.of("200000", "CNY")
        assert len(list(store.users.all())) == 5


def test_owners_match_stored_users(sample: Path, tmp_path: Path) -> None:
    url = _with_users(tmp_path)
    code, out, _ = _import(sample, url, "--json")
    assert code == 0
    result = json.loads(out)
    assert (result["added"], result["rejected"], result["users_created"]) == (30, 0, [])
    with storage.open(url) as store:
        owners = {lead.owner_id for lead in store.leads.all()}
    assert owners == {"u-zhangwei", "u-lina", "u-wangfang"}


def test_a_dry_run_creates_no_database_file(sample: Path, tmp_path: Path) -> None:
    db = tmp_path / "dry.db"
    code, out, _ = _import(sample, f"sqlite:///{db}", "--create-users", "--dry-run")
    assert code == 0
    assert "lead: 30 added" in out
    assert "dry run, nothing written" in out
    assert not db.exists()


def test_a_dry_run_on_an_existing_store_writes_nothing(sample: Path, tmp_path: Path) -> None:
    url = _with_users(tmp_path)
    before = (tmp_path / "crm.db").read_bytes()
    code, _, _ = _import(sample, url, "--dry-run", "--report", str(tmp_path / "r.jsonl"))
    assert code == 0
    with storage.open(url) as store:
        assert list(store.leads.all()) == []
    assert (tmp_path / "crm.db").read_bytes() == before
    lines = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 30
    assert {json.loads(line)["outcome"] for line in lines} == {"added"}


def test_a_refused_import_leaves_no_new_file(sample: Path, tmp_path: Path) -> None:
    db = tmp_path / "refused.db"
    report = tmp_path / "r.csv"
    # no users stored and none created: every row's owner matches nobody
    code, _, err = _import(sample, f"sqlite:///{db}", "--report", str(report))
    assert code == 2
    assert "30 of 30 rows rejected; nothing was written" in err
    assert f"problems (the first {SHOWN_PROBLEMS} of 30)" in err
    assert "row 2, 负责人: no user matches" in err
    assert "Traceback" not in err
    assert not db.exists()
    assert not report.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["s"]


def test_a_refused_plain_import_leaves_no_new_file(sample: Path, tmp_path: Path) -> None:
    db = tmp_path / "plain.db"
    code, _, err = cli(
        "import", "lead", str(sample / "leads_gbk.csv"), "--store", f"sqlite:///{db}"
    )
    assert code == 2
    assert "row 1" in err
    assert not db.exists()
    assert not Path(f"{db}-journal").exists()


def test_skip_invalid_keeps_the_good_rows(sample: Path, tmp_path: Path) -> None:
    url = _with_users(tmp_path)
    text = (sample / "leads_gbk.csv").read_bytes().decode("gb18030")
    # row 3 (XS-2025002) gets an owner nobody is
    text = text.replace(',李娜,"SaaS', ',赵六,"SaaS', 1)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(text.encode("gbk"))
    args = ("import", "lead", str(bad), "--mapping", str(sample / "leads_gbk.toml"),
            "--store", url)  # fmt: skip
    code, _, err = cli(*args)
    assert code == 2
    assert "1 of 30 rows rejected" in err
    assert "row 3, 负责人" in err
    code, out, err = cli(*args, "--skip-invalid", "--report", str(tmp_path / "r.csv"))
    assert code == 0
    assert "lead: 29 added, 0 updated, 0 unchanged, 1 rejected" in out
    with (tmp_path / "r.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30
    rejected = [r for r in rows if r["outcome"] == "rejected"]
    assert [(r["row"], r["field"], r["value"]) for r in rejected] == [("3", "负责人", "赵六")]


def test_a_changed_cell_is_one_updated_row(sample: Path, tmp_path: Path) -> None:
    url = _with_users(tmp_path)
    assert _import(sample, url)[0] == 0
    text = (sample / "leads_gbk.csv").read_bytes().decode("gb18030")
    changed = tmp_path / "changed.csv"
    changed.write_bytes(text.replace('"200,000"', '"250,000"', 1).encode("gbk"))
    code, out, _ = cli("import", "lead", str(changed), "--mapping", str(sample / "leads_gbk.toml"),
                       "--store", url)  # fmt: skip
    assert code == 0
    assert "lead: 0 added, 1 updated, 29 unchanged, 0 rejected" in out
    with storage.open(url) as store:
        lead = store.leads.get("XS-2025001")
    assert (lead.budget, lead.version) == (Money.of(Decimal(250000), "CNY"), 2)


def test_a_wrong_encoding_is_one_line_naming_row_and_encoding(sample: Path, tmp_path: Path) -> None:
    db = tmp_path / "enc.db"
    code, out, err = _import(sample, f"sqlite:///{db}", "--encoding", "utf-8")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("pipeline-core: error: leads_gbk.csv, row 1: ")
    assert "utf-8" in err
    assert "--encoding" in err
    assert not db.exists()


def test_an_undecodable_byte_further_on_names_its_row(sample: Path, tmp_path: Path) -> None:
    data = (sample / "leads_gbk.csv").read_bytes()
    lines = data.split(b"\n")
    lines[5] = lines[5].replace(b"XS-2025005", b"XS-2025005\x80\xff", 1)  # row 6
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\n".join(lines))
    code, _, err = cli("import", "lead", str(broken), "--mapping", str(sample / "leads_gbk.toml"),
                       "--encoding", "gbk", "--store", f"sqlite:///{tmp_path / 'x.db'}")  # fmt: skip
    assert code == 2
    assert err.count("\n") == 1
    assert "row 6" in err
    assert "gbk" in err
    assert not (tmp_path / "x.db").exists()


def test_the_mapping_must_fill_the_kind_imported(sample: Path, tmp_path: Path) -> None:
    code, _, err = cli("import", "opportunity", str(sample / "leads_gbk.csv"), "--mapping",
                       str(sample / "leads_gbk.toml"), "--store", f"sqlite:///{tmp_path / 'k.db'}")  # fmt: skip
    assert code == 2
    assert "the mapping fills lead records, not opportunity" in err
    assert not (tmp_path / "k.db").exists()


def test_mapping_options_need_a_mapping(sample: Path, tmp_path: Path) -> None:
    code, _, err = cli("import", "lead", str(sample / "leads_gbk.csv"), "--dry-run")
    assert code == 2
    assert "--dry-run" in err
    assert "needs --mapping" in err


def test_mapping_init_writes_a_mapping_that_loads_and_maps_the_sample(
    sample: Path, tmp_path: Path
) -> None:
    out_file = tmp_path / "init.toml"
    code, out, _ = cli("mapping", "init", str(sample / "leads_gbk.csv"), "-o", str(out_file),
                       "--currency", "CNY", "--timezone", "Asia/Shanghai")  # fmt: skip
    assert code == 0
    assert out.strip() == f"wrote {out_file}: 12 of 13 columns mapped; left for you: 是否有效"
    mapping = load_mapping(out_file)
    assert mapping.external_id == "线索编号"
    assert {c.header: c.field for c in mapping.columns}["预算(元)"] == "budget"
    users = [User(id="u-zhangwei", name="张伟", role="ae"),
             User(id="u-lina", name="李娜", role="ae", email="li.na@example.com"),
             User(id="u-wangfang", name="王芳", role="sdr")]  # fmt: skip
    with read_rows(sample / "leads_gbk.csv") as source:
        rows = list(map_rows(source, mapping, users=users))
    assert len(rows) == 30
    # what a starter cannot know: the Chinese enum words (no aliases yet), the time of day of
    # date-only values, a default for a blank 来源; everything else maps
    columns = {p.field for r in rows for p in r.problems}
    assert columns <= {"决策权", "需求强度", "决策周期", "创建时间", "来源"}
    assert "决策权" in columns
    # a second init does not overwrite the file
    code, _, err = cli("mapping", "init", str(sample / "leads_gbk.csv"), "-o", str(out_file))
    assert code == 2
    assert "--force" in err


def test_mapping_init_to_stdout_for_deals(tmp_path: Path) -> None:
    deals = tmp_path / "deals.csv"
    deals.write_text("opportunity_id,sales_agent,deal_stage,close_value\n1,Ann,Won,10\n")
    code, out, _ = cli("mapping", "init", str(deals), "--record", "opportunity")
    assert code == 0
    assert 'record = "opportunity"' in out
    assert '"deal_stage" = "stage"' in out
    assert 'external_id = "opportunity_id"' in out
    assert '# currency = "CNY"' in out  # to fill in: close_value is money


def test_mapping_check(sample: Path, tmp_path: Path) -> None:
    url = _with_users(tmp_path)
    code, out, _ = cli("mapping", "check", str(sample / "leads_gbk.toml"),
                       str(sample / "leads_gbk.csv"), "--store", url)  # fmt: skip
    assert code == 0
    assert "a lead mapping, 13 columns, external id '线索编号'" in out
    assert "30 rows, 30 map cleanly, 0 with problems" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('record = "lead"\n[columns]\n"a" = "nope"\n', encoding="utf-8")
    code, _, err = cli("mapping", "check", str(bad))
    assert code == 2
    assert "nope" in err


def test_mapping_sample_does_not_overwrite(sample: Path) -> None:
    assert sorted(p.name for p in sample.iterdir()) == sorted(SAMPLE_FILES)
    code, _, err = cli("mapping", "sample", str(sample))
    assert code == 2
    assert "--force" in err
    assert cli("mapping", "sample", str(sample), "--force")[0] == 0


@given(st.text())
def test_sheet_option_is_an_index_only_for_ascii_digits(text: str) -> None:
    value = sheet_option(text)
    if text and all(c in "0123456789" for c in text):
        assert value == int(text)
    else:
        assert value == text


@given(st.text(alphabet=st.characters(blacklist_characters="?\x00"), min_size=1))
def test_sqlite_path_reads_the_file_of_a_sqlite_url(name: str) -> None:
    url = "sqlite:///" + name
    expected = None if name == ":memory:" else Path(name)
    assert sqlite_path(url) == expected
    assert sqlite_path("memory://" + name) is None
    assert sqlite_path("postgresql://" + name) is None


def test_new_sqlite_file_removes_only_what_it_created(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    old.write_bytes(b"x")
    seen: list[bool] = []

    def fail() -> None:
        with new_sqlite_file(f"sqlite:///{old}") as fresh:
            seen.append(fresh)
            Path(f"{old}-journal").write_bytes(b"j")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert seen == [False]
    assert old.read_bytes() == b"x"
    assert not Path(f"{old}-journal").exists()
    new = tmp_path / "new.db"
    with new_sqlite_file(f"sqlite:///{new}") as fresh:
        assert fresh is True
        new.write_bytes(b"y")
    assert new.exists()  # kept: the body succeeded
