"""``import --mapping --create-users --skip-invalid``: only owners of the rows kept become users."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from pipeline_core import storage
from pipeline_core.cli import main

MAPPING = """
record = "lead"
timezone = "Asia/Shanghai"
[columns]
"编号" = "id"
"创建时间" = "created_at"
"来源" = "source"
"公司" = "company"
"负责人" = "owner_id"
[owners]
match = ["id", "name"]
"""
# row 2: 赵六, good; row 3: 钱七, a date nobody can read (rejected); row 4: 孙八, good;
# row 5: 钱七 again but rejected (bad date); row 6: 周九 rejected, and also owner of row 7, good
CSV = (
    "编号,创建时间,来源,公司,负责人\n"
    "L1,2025-03-03 09:00,website,甲公司,赵六\n"
    "L2,soon,website,乙公司,钱七\n"
    "L3,2025-03-04 10:00,event,丙公司,孙八\n"
    "L4,later,event,丁公司,钱七\n"
    "L5,never,event,戊公司,周九\n"
    "L6,2025-03-05 11:00,event,己公司,周九\n"
)


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, str]:
    (tmp_path / "m.toml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "leads.csv").write_text(CSV, encoding="utf-8")
    return tmp_path / "leads.csv", tmp_path / "m.toml", f"sqlite:///{tmp_path / 'crm.db'}"


@pytest.mark.parametrize("dry_run", [False, True])
def test_owners_only_of_rejected_rows_are_not_created(
    files: tuple[Path, Path, str], dry_run: bool
) -> None:
    data, mapping, url = files
    more = ("--dry-run",) if dry_run else ()
    code, out, err = _cli(
        "import", "lead", str(data), "--mapping", str(mapping), "--store", url,
        "--skip-invalid", "--create-users", "--json", *more,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert (result["added"], result["rejected"]) == (3, 3)
    assert result["users_created"] == ["赵六", "孙八", "周九"]  # not 钱七 (rows 3 and 5 only)
    if dry_run:
        return
    store = storage.open(url)
    try:
        assert sorted(u.id for u in store.users.all()) == ["周九", "孙八", "赵六"]
        assert {lead.id: lead.owner_id for lead in store.leads.all()} == {
            "L1": "赵六",
            "L3": "孙八",
            "L6": "周九",
        }
    finally:
        store.close()


def test_without_skip_invalid_nothing_is_created(files: tuple[Path, Path, str]) -> None:
    data, mapping, url = files
    code, _, err = _cli(
        "import", "lead", str(data), "--mapping", str(mapping), "--store", url, "--create-users"
    )  # fmt: skip
    assert code == 2
    assert "3 of 6 rows rejected" in err
    assert not Path(url.removeprefix("sqlite:///")).exists()
