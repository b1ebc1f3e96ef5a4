"""What a person reads from the command line and the report: local times with their offset,
names instead of ids, one number format per quantity, aligned Chinese text, errors in their terms."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.cli import _format as f
from pipeline_core.errors import Problem

SHANGHAI = ZoneInfo("Asia/Shanghai")


# -- formats ----------------------------------------------------------------------------------


def test_an_instant_reads_in_the_zone_with_its_offset() -> None:
    # 14:12 UTC is 22:12 in Shanghai (UTC+8, no DST)
    at = datetime(2025, 4, 5, 14, 12, 33, 123456, tzinfo=UTC)
    assert f.instant(at, SHANGHAI) == "2025-04-05 22:12 +08:00"
    assert f.instant(at.isoformat(), "Asia/Shanghai") == "2025-04-05 22:12 +08:00"
    # in UTC the label says so; no microseconds anywhere
    assert f.instant(at, "UTC") == "2025-04-05 14:12 UTC"
    # New York on 2025-03-10 is on daylight time, UTC-4: 14:12 UTC is 10:12 -04:00
    ny = datetime(2025, 3, 10, 14, 12, tzinfo=UTC)
    assert f.instant(ny, "America/New_York") == "2025-03-10 10:12 -04:00"
    # India is UTC+5:30: 14:12 UTC is 19:42 +05:30
    assert f.instant(at, "Asia/Kolkata") == "2025-04-05 19:42 +05:30"


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1),  # offsets in whole minutes since
        max_value=datetime(2999, 12, 31),
        timezones=st.sampled_from([UTC, SHANGHAI, ZoneInfo("America/New_York")]),
    ),
    st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_the_shown_time_and_offset_name_the_same_instant(at: datetime, zone: str) -> None:
    """Reading the text back (local wall time minus its offset) gives the instant, to the minute."""
    text = f.instant(at, zone)
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d) ([+-])(\d\d):(\d\d)", text)
    assert m, text
    sign = 1 if m.group(2) == "+" else -1
    offset = timedelta(hours=int(m.group(3)), minutes=int(m.group(4))) * sign
    back = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=timezone(offset))
    # compared as instants (an ambiguous wall time never equals another zone's under ==)
    assert back.timestamp() == at.replace(second=0, microsecond=0).timestamp()


def test_one_format_per_quantity() -> None:
    assert [f.score(x) for x in (95, 95.0, "95.0000")] == ["95.0"] * 3  # type: ignore[arg-type]
    assert [f.count(x) for x in (2.0, 2, 1234)] == ["2", "2", "1,234"]
    assert f.pct(0.4596) == "46.0%"  # 0.4596 = 45.96 % -> one decimal
    assert f.money(61_690_000.4, "CNY") == "¥61,690,000"
    assert f.money(1000, "SEK") == "SEK 1,000"
    assert f.money(None, "CNY") == f.pct(None) == "—"


def test_chinese_text_is_aligned_by_display_width() -> None:
    lines = f.table(["stage", "reached"], [["首次沟通", "624"], ["won", "119"]], "<>", indent="")
    # 首次沟通 is four wide characters = 8 columns; every line is as wide on screen
    widths = {f.width(line) for line in lines}
    assert widths == {8 + 2 + 7}  # 8 columns of stage, two spaces, "reached" (7)
    assert lines[1] == "首次沟通      624"


def test_problem_values_read_in_the_users_terms() -> None:
    assert str(Problem(("within",), "must not be negative", timedelta(days=-3))) == (
        "within: must not be negative (got -3 days)"
    )
    assert str(Problem(("at",), "too late", datetime(2025, 1, 1, tzinfo=UTC))) == (
        "at: too late (got 2025-01-01T00:00:00+00:00)"
    )
    assert "None" not in str(Problem(("--pipeline",), "needed", None))


def test_an_os_error_reads_as_which_file_and_why(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "folder.json").mkdir()
    code, out, err = cli(["validate", str(tmp_path / "folder.json")])
    assert code == 2
    assert "is a folder, not a file" in out
    assert "Errno" not in out + err


# -- commands ---------------------------------------------------------------------------------


def test_sla_shows_local_times_titles_and_names(cli: Any, demo: dict[str, Any]) -> None:
    code, out, err = cli(
        ["sla", "--store", demo["url"], "--now", "2025-04-06T00:00:00+08:00", "--limit", "5"]
    )
    assert code == 0, err
    assert out.startswith("SLA at 2025-04-06 00:00 +08:00 ")  # --now as given, in Shanghai
    latest = out.split("latest:\n", 1)[1].splitlines()[1:]
    assert len(latest) == 5
    for line in latest:
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d \+08:00", line), line
        assert not re.search(r"\buser-\d+\b", line), line  # reps by name
    assert "lead.first_touch" not in out and "silence.30d" not in out  # rule titles
    code, ids_out, _ = cli(
        ["sla", "--store", demo["url"], "--now", "2025-04-06T00:00:00+08:00", "--ids"]
    )
    assert re.search(r"\(user-\d+\)", ids_out)  # ids on request, after the name


def test_sla_in_another_zone_and_in_english(cli: Any, demo: dict[str, Any]) -> None:
    code, out, err = cli(
        [
            "sla",
            "--store",
            demo["url"],
            "--now",
            "2025-04-06T00:00:00+08:00",
            "--tz",
            "UTC",
            "--lang",
            "en",
        ]
    )
    assert code == 0, err
    assert out.startswith("SLA at 2025-04-05 16:00 UTC ")  # 00:00 +08:00 = 16:00 UTC the day before
    assert "First touch" in out or "First call" in out
    code, _, err = cli(["sla", "--store", demo["url"], "--tz", "Mars/Olympus"])
    assert code == 2 and "--tz" in err
    # a tz database entry whose meaning depends on the machine is no zone name either
    code, _, err = cli(["sla", "--store", demo["url"], "--tz", "localtime"])
    assert code == 2 and "--tz" in err


def test_funnel_header_has_no_microseconds_and_shows_labels(cli: Any, demo: dict[str, Any]) -> None:
    code, out, err = cli(["funnel", "--store", demo["url"]])
    assert code == 0, err
    header = out.splitlines()[0]
    assert not re.search(r"\d\d:\d\d:\d\d\.\d+", header)
    assert re.search(r"created \d{4}-\d\d-\d\d \d\d:\d\d \+08:00 to ", header)
    assert "首次沟通" in out and "first_contact" not in out


def test_scores_have_one_format_everywhere(cli: Any, demo: dict[str, Any]) -> None:
    code, out, _ = cli(["score", "--store", demo["url"], "--top", "3"])
    assert code == 0
    scores = re.findall(r"\s(\d+\.\d+)\s+[ABC]$", out, re.M)
    assert len(scores) == 3 and all(re.fullmatch(r"\d+\.\d", s) for s in scores)
    code, out, _ = cli(
        ["demo", "--leads", "30", "--db", str(demo["db"].with_name("s.db")), "--no-report"]
    )
    assert code == 0
    heads = re.findall(r"  lead-\d+ .*? (\d+\.\d+) → [ABC]:", out)
    assert heads and all(re.fullmatch(r"\d+\.\d", s) for s in heads)


def test_help_lists_each_command_once(cli: Any) -> None:
    code, out, _ = cli(["--help"])
    assert code == 0
    for command in ("demo", "score", "sla", "funnel", "import", "export", "validate", "diagram"):
        assert len(re.findall(rf"^\s+{command}\s", out, re.M)) == 1, command


def test_python_dash_m_runs_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline_core", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith("pipeline-core ")


# -- report -----------------------------------------------------------------------------------


def test_the_report_is_the_same_bytes_for_the_same_input(cli: Any, tmp_path: Path) -> None:
    pages = []
    for run in (1, 2):
        report = tmp_path / f"r{run}.html"
        code, _, err = cli(
            ["demo", "--leads", "120", "--db", str(tmp_path / f"{run}.db"), "--report", str(report)]
        )
        assert code == 0, err
        pages.append(report.read_bytes().replace(str(tmp_path / f"{run}.db").encode(), b"DB"))
    assert pages[0] == pages[1]
    text = pages[0].decode()
    assert "<html lang='zh-CN'>" in text
    assert "<dc:date>" not in text  # no SVG date
    assert "1e6" not in text and "e+0" not in text


def test_without_holidays_the_demo_runs_on_weekdays_and_says_so(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "holidays", None)  # import holidays -> ModuleNotFoundError
    code, out, err = cli(["demo", "--leads", "40", "--db", str(tmp_path / "x.db"), "--no-report"])
    assert code == 0, err
    assert "pip install 'pipeline-core[holidays]'" in out
