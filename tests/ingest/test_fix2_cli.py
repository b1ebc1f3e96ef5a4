"""Review #19, fix 2: the CLI's exit codes for rows that would be rejected, an unopenable store
and an unwritable report. Files written here; expected counts worked out by hand."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from pipeline_core.cli import main

# row 2 fine; row 3 repeats id L1; row 4's created is no date: 1 good row, 2 rejected
ROWS = "id,created,src\nL1,2025-01-01 09:00,web\nL1,2025-01-02 09:00,web\nL3,notadate,web\n"
MAPPING = 'record = "lead"\ntimezone = "UTC"\n[columns]\nid = "id"\ncreated = "created_at"\nsrc = "source"\n'


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _files(tmp_path: Path, rows: str = ROWS) -> tuple[str, str]:
    (tmp_path / "leads.csv").write_text(rows, encoding="utf-8")
    (tmp_path / "m.toml").write_text(MAPPING, encoding="utf-8")
    return str(tmp_path / "leads.csv"), str(tmp_path / "m.toml")


def test_a_dry_run_with_rows_a_real_import_would_refuse_exits_2(tmp_path: Path) -> None:
    csv_path, mapping = _files(tmp_path)
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    code, out, _ = cli(
        "import", "lead", csv_path, "--mapping", mapping, "--store", url, "--dry-run"
    )
    assert code == 2
    assert "1 added, 0 updated, 0 unchanged, 2 rejected (dry run, nothing written)" in out
    assert cli("import", "lead", csv_path, "--mapping", mapping, "--store", url)[0] == 2
    # with --skip-invalid the real import stores the good row and exits 0: so does its dry run
    dry = cli("import", "lead", csv_path, "--mapping", mapping, "--store", url, "--dry-run",
              "--skip-invalid")  # fmt: skip
    assert dry[0] == 0
    assert not (tmp_path / "crm.db").exists()


def test_a_clean_dry_run_exits_0(tmp_path: Path) -> None:
    csv_path, mapping = _files(tmp_path, "id,created,src\nL1,2025-01-01 09:00,web\n")
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    assert (
        cli("import", "lead", csv_path, "--mapping", mapping, "--store", url, "--dry-run")[0] == 0
    )


def test_mapping_check_exits_2_when_rows_have_problems(tmp_path: Path) -> None:
    csv_path, mapping = _files(tmp_path)
    code, out, _ = cli("mapping", "check", mapping, csv_path)
    # the duplicate id is the sync's to find: mapping alone sees row 4's date only
    assert code == 2
    assert "3 rows, 2 map cleanly, 1 with problems" in out
    clean, mapping = _files(tmp_path, "id,created,src\nL1,2025-01-01 09:00,web\n")
    assert cli("mapping", "check", mapping, clean)[0] == 0


def test_an_unopenable_store_is_bad_input_in_one_line(tmp_path: Path) -> None:
    csv_path, mapping = _files(tmp_path)
    (tmp_path / "not.db").write_text("not a database\n", encoding="utf-8")
    for url in (
        f"sqlite:///{tmp_path / 'no' / 'dir' / 'x.db'}",
        f"sqlite:///{tmp_path / 'not.db'}",
    ):
        code, _, err = cli("import", "lead", csv_path, "--mapping", mapping, "--store", url,
                           "--skip-invalid")  # fmt: skip
        assert code == 2
        assert err.count("\n") == 1 and err.startswith(f"pipeline-core: error: --store {url}: ")
    # mapping check reads the store's users: a missing file has none; a non-database is refused
    code, _, err = cli("mapping", "check", mapping, csv_path, "--store", url)
    assert code == 2 and err.count("\n") == 1 and "file is not a database" in err


def test_an_unwritable_report_is_bad_input_in_one_line_before_anything_is_stored(
    tmp_path: Path,
) -> None:
    csv_path, mapping = _files(tmp_path)
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    report = str(tmp_path / "missing-folder" / "r.csv")
    code, _, err = cli("import", "lead", csv_path, "--mapping", mapping, "--store", url,
                       "--skip-invalid", "--report", report)  # fmt: skip
    assert code == 2
    assert err == (
        f"pipeline-core: error: --report {report}: cannot write the report there: "
        "No such file or directory\n"
    )
    assert not (tmp_path / "crm.db").exists()
