"""``export --bom/--excel``, ``--headers zh`` and ``.xlsx`` through the command line, and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

LEADS = (
    "id,created_at,source,company,status\r\n"
    "L1,2025-03-03T09:00:00Z,referral,远航制造,new\r\n"
    "L2,2025-03-04T01:30:00+08:00,website,=1+2,new\r\n"
)


@pytest.fixture
def store(tmp_path: Path, cli: Any) -> str:
    src = tmp_path / "in.csv"
    src.write_text(LEADS, encoding="utf-8", newline="")
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    code, _, err = cli(["import", "lead", str(src), "--store", url])
    assert code == 0, err
    return url


def test_excel_csv_with_chinese_headers(tmp_path: Path, cli: Any, store: str) -> None:
    out = tmp_path / "out.csv"
    code, stdout, err = cli(
        ["export", "lead", str(out), "--store", store, "--excel", "--headers", "zh"]
    )
    assert code == 0, err
    assert "exported 2 lead records" in stdout
    data = out.read_bytes()
    assert data.startswith("\ufeff编号,创建时间,来源,公司,".encode())
    # an instant keeps its offset; "=1+2" stays as it is (no --spreadsheet-safe)
    assert "\r\nL2,2025-03-04T01:30:00+08:00,website,=1+2," in data.decode("utf-8-sig")
    back = f"sqlite:///{tmp_path / 'back.db'}"
    code, stdout, err = cli(["import", "lead", str(out), "--store", back])
    assert code == 0, err
    assert "imported 2 lead records of 2 rows" in stdout


def test_xlsx_export_and_import(tmp_path: Path, cli: Any, store: str) -> None:
    out = tmp_path / "leads.xlsx"
    code, _, err = cli(["export", "lead", str(out), "--store", store, "--headers", "zh"])
    assert code == 0, err
    assert out.read_bytes()[:2] == b"PK"  # a zip: an Office Open XML workbook
    back = f"sqlite:///{tmp_path / 'back.db'}"
    code, stdout, err = cli(["import", "lead", str(out), "--store", back])
    assert code == 0, err
    assert "imported 2 lead records of 2 rows" in stdout


@pytest.mark.parametrize(
    ("more", "option"),
    [
        (["--format", "jsonl", "--bom"], "--bom"),
        (["--format", "jsonl", "--headers", "zh"], "--headers"),
    ],
)
def test_options_that_do_not_fit_the_format_are_refused(
    tmp_path: Path, cli: Any, store: str, more: list[str], option: str
) -> None:
    code, _, err = cli(["export", "lead", str(tmp_path / "x.jsonl"), "--store", store, *more])
    assert code == 2
    assert option in err
    assert not (tmp_path / "x.jsonl").exists()
