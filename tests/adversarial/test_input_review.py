"""Findings of an adversarial review of the input boundaries (issue 16, input half).

Each test is one way a careless user or an attacker got a value in that came back different
(a silent change), hung the library, or surfaced as a raw Python error. Expected behaviour, the
same everywhere: a ``pipeline_core.errors`` type naming the field (and, for files, the row).
"""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pipeline_core.cli import main
from pipeline_core.cli._common import BadInput, load_json_file
from pipeline_core.errors import ValidationError
from pipeline_core.metrics.inputs import opportunity_value
from pipeline_core.records import JournalEntry, Lead, Opportunity, SlaOutcome
from pipeline_core.storage.io import read_csv, read_jsonl

LEAD = {"id": "lead-7", "created_at": "2025-03-03T10:00:00+08:00", "source": "event"}


# --------------------------------------------------------------------------- instants


@pytest.mark.parametrize(
    "offset",
    [
        timedelta(hours=8, seconds=30),  # 30 s would be cut off: +08:00 in the ISO text
        timedelta(hours=-3, minutes=-30, microseconds=-1),
    ],
)
def test_an_offset_with_seconds_is_refused_not_cut_to_minutes(offset: timedelta) -> None:
    # ISO 8601 / RFC 3339 offsets are whole minutes; to_dict() wrote "+08:00" for +08:00:30,
    # so from_dict(to_dict(r)) was 30 s away from r.
    at = datetime(2025, 3, 3, 10, 0, tzinfo=timezone(offset))
    with pytest.raises(ValidationError) as err:
        Lead(**{**LEAD, "created_at": at})
    assert err.value.fields == ("created_at",)


def test_local_mean_time_of_a_named_zone_is_refused() -> None:
    # Asia/Shanghai before 1901 is LMT +08:05:43; the record wrote "+08:05" (43 s lost).
    at = datetime(1900, 6, 1, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert at.utcoffset() == timedelta(hours=8, minutes=5, seconds=43)
    with pytest.raises(ValidationError) as err:
        Lead(**{**LEAD, "created_at": at})
    assert err.value.fields == ("created_at",)


@pytest.mark.parametrize(
    "text", ["2025-03-03T10:00:00.1234567+08:00", "2025-03-03T10:00:00.000000001Z"]
)
def test_digits_below_a_microsecond_are_refused_not_dropped(text: str) -> None:
    with pytest.raises(ValidationError) as err:
        Lead.from_dict({**LEAD, "created_at": text})
    assert err.value.fields == ("created_at",)


def test_six_fractional_digits_are_kept() -> None:
    lead = Lead.from_dict({**LEAD, "created_at": "2025-03-03T10:00:00.123456+08:00"})
    assert lead.created_at.microsecond == 123456
    assert lead.to_dict()["created_at"] == "2025-03-03T10:00:00.123456+08:00"


def test_a_pandas_timestamp_with_nanoseconds_is_refused() -> None:
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValidationError) as err:
        Lead(**{**LEAD, "created_at": pd.Timestamp("2025-03-03T02:00:00.000000007Z")})
    assert err.value.fields == ("created_at",)


def test_a_pandas_timestamp_becomes_a_plain_datetime() -> None:
    pd = pytest.importorskip("pandas")
    lead = Lead(**{**LEAD, "created_at": pd.Timestamp("2025-03-03T02:00:00.5Z")})
    assert type(lead.created_at) is datetime
    assert lead.created_at == datetime(2025, 3, 3, 2, 0, 0, 500000, tzinfo=UTC)


def test_the_cli_refuses_sub_microsecond_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["sla", "--store", "memory://", "--now", "2025-04-06T00:00:00.1234567+08:00", "--json"]
    )
    assert code == 2
    assert "--now" in capsys.readouterr().err


# --------------------------------------------------------------------------- nested data


def _finishes(call: Any) -> tuple[bool, BaseException | None]:
    box: list[BaseException | None] = [None]

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            box[0] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    return not worker.is_alive(), box[0]


def test_a_payload_that_contains_itself_is_refused_not_a_hang() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["again"] = cyclic
    base = {"id": "j1", "kind": "note", "subject_id": "lead-7", "at": LEAD["created_at"]}
    done, exc = _finishes(lambda: JournalEntry.from_dict({**base, "by": "u1", "payload": cyclic}))
    assert done, "JournalEntry.from_dict never returned on a cyclic payload"
    assert isinstance(exc, ValidationError)


def test_custom_fields_that_contain_themselves_are_refused_not_a_hang() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["x"] = cyclic
    done, exc = _finishes(lambda: Lead(**{**LEAD, "custom": cyclic}))
    assert done, "Lead(...) never returned on cyclic custom fields"
    assert isinstance(exc, ValidationError)


# --------------------------------------------------------------------------- numbers

OUTCOME = {
    "id": "so-1",
    "rule": "lead.first_touch",
    "target": "touched",
    "subject_kind": "lead",
    "subject_id": "lead-7",
    "started_at": "2025-03-03T10:00:00+08:00",
    "due_at": "2025-03-03T12:00:00+08:00",
    "met": True,
}


@pytest.mark.parametrize("given", ["5400", True, Decimal("0.1")])
def test_elapsed_seconds_is_a_number_not_text_or_a_bool(given: Any) -> None:
    # "5400" was read as 5400.0, True as 1.0, Decimal('0.1') as the float 0.1
    with pytest.raises(ValidationError) as err:
        SlaOutcome.from_dict({**OUTCOME, "elapsed_seconds": given})
    assert err.value.fields == ("elapsed_seconds",)


def test_elapsed_seconds_takes_ints_and_floats() -> None:
    # 1 h 30 min = 5,400 s
    assert SlaOutcome.from_dict({**OUTCOME, "elapsed_seconds": 5400}).elapsed_seconds == 5400.0
    assert SlaOutcome.from_dict({**OUTCOME, "elapsed_seconds": 0.5}).elapsed_seconds == 0.5


def _csv(text: str) -> list[tuple[int, Any]]:
    return list(read_csv("lead", io.StringIO(text)))


@pytest.mark.parametrize("cell", ["-0", "+12", "012"])
def test_a_csv_integer_cell_is_read_only_as_written(cell: str) -> None:
    # company_size "-0" became 0, "+12" and "012" became 12: the stored value is not the cell.
    rows = _csv(
        f"id,created_at,source,company_size\nlead-7,2025-03-03T10:00:00+08:00,event,{cell}\n"
    )
    [(row, result)] = rows
    assert row == 2
    assert isinstance(result, list), f"{cell!r} was accepted as {result.company_size!r}"
    assert [e.field for e in result] == ["company_size"]


def test_a_csv_integer_cell_in_plain_digits_is_kept() -> None:
    [(_, lead)] = _csv(
        "id,created_at,source,company_size\nlead-7,2025-03-03T10:00:00+08:00,event,120\n"
    )
    assert isinstance(lead, Lead) and lead.company_size == 120


# --------------------------------------------------------------------------- duplicate keys


def test_a_json_line_with_a_key_twice_is_refused_not_last_wins() -> None:
    line = (
        '{"id": "lead-7", "id": "lead-8", "created_at": "2025-03-03T10:00:00+08:00",'
        ' "source": "event"}\n'
    )
    [(row, result)] = list(read_jsonl("lead", io.StringIO(line)))
    assert row == 1
    assert isinstance(result, list), f"read as {result.id!r}"
    assert result[0].field == "id"


def test_a_payload_cell_with_a_key_twice_is_refused() -> None:
    text = (
        "id,kind,subject_id,at,by,payload\n"
        'j1,note,lead-7,2025-03-03T10:00:00+08:00,u1,"{""to"": ""u1"", ""to"": ""u2""}"\n'
    )
    [(row, result)] = list(read_csv("journal_entry", io.StringIO(text)))
    assert row == 2
    assert isinstance(result, list), f"payload read as {result.payload!r}"


def test_a_definition_file_with_a_key_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"id": "a", "id": "b"}', encoding="utf-8")
    with pytest.raises(BadInput) as err:
        load_json_file(str(path), "--policy")
    assert "id" in str(err.value)


# --------------------------------------------------------------------------- CLI options


def test_group_by_a_python_attribute_is_refused() -> None:
    opp = Opportunity.from_dict(
        {
            "id": "opp-1",
            "name": "Deal",
            "created_at": "2025-03-03T10:00:00+08:00",
            "owner_id": "u1",
            "stage": "new",
            "stage_entered_at": "2025-03-03T10:00:00+08:00",
        }
    )
    for column in ("__class__", "__dict__", "evolve", "to_dict", "_trusted"):
        with pytest.raises(ValidationError):
            opportunity_value(opp, column)
    assert opportunity_value(opp, "owner_id") == "u1"


@pytest.mark.parametrize(
    ("option", "value"), [("--days", "99999999"), ("--leads", "100000000000000000000")]
)
def test_demo_refuses_sizes_it_cannot_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    # --days 99999999 crashed with OverflowError (exit 1); --leads 1e20 ran out of memory
    args = ["demo", "--db", str(tmp_path / "d.db"), "--no-report", "--leads", "5", option, value]
    codes: list[int] = []
    done, exc = _finishes(lambda: codes.append(main(args)))
    assert done, f"demo {option} {value} did not stop within 10 s"
    assert exc is None and codes == [2]
    assert option in capsys.readouterr().err


# --------------------------------------------------------------------------- definitions


@pytest.mark.parametrize(
    "hours",
    [
        "09:00-18:00\n",  # `$` let the newline through: stored as "09:00-18:00"
        "\uff10\uff19:00-18:00",  # full-width 09 was read as 09
        "09:00-18:00\t",
    ],
)
def test_working_hours_are_read_only_as_written(hours: str) -> None:
    from pipeline_core.errors import ConfigError
    from pipeline_core.sla.calendar import BusinessCalendar

    with pytest.raises(ConfigError) as err:
        BusinessCalendar.from_dict({"hours": {"mon": hours}})
    assert err.value.fields == ("hours.mon",)


def test_working_hours_with_spaces_around_the_parts_are_kept() -> None:
    from pipeline_core.sla.calendar import BusinessCalendar

    cal = BusinessCalendar.from_dict({"hours": {"mon": "09:00 - 12:00, 13:30-18:00"}})
    # 09:00 = minute 540, 12:00 = 720, 13:30 = 810, 18:00 = 1080
    assert cal.to_dict()["hours"]["mon"] == "09:00-12:00, 13:30-18:00"


@pytest.mark.parametrize(
    ("field", "given"),
    [
        ("idle_days", "30"),
        ("idle_days", True),
        ("claims_per_day", "5"),
        ("max_held", 1.0),
        ("include_nurturing_leads", 1),
    ],
)
def test_pool_policy_numbers_and_flags_are_not_coerced(field: str, given: Any) -> None:
    from pipeline_core.assignment.pool import PoolPolicy
    from pipeline_core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        PoolPolicy.from_dict({field: given})
    assert err.value.fields == (field,)


@pytest.mark.parametrize(
    ("field", "given"), [("weight", "2"), ("max_open", True), ("active", "yes")]
)
def test_routing_rep_numbers_and_flags_are_not_coerced(field: str, given: Any) -> None:
    from pipeline_core.assignment.routing import RoutingPolicy
    from pipeline_core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        RoutingPolicy.from_dict({"reps": [{"id": "u1", field: given}]})
    assert err.value.fields == (f"reps[0].{field}",)


def test_a_pool_id_with_a_terminal_escape_is_refused() -> None:
    from pipeline_core.assignment.pool import PoolPolicy
    from pipeline_core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        PoolPolicy.from_dict({"pool_id": "pool\x1b[2J"})
    assert err.value.fields == ("pool_id",)


def test_a_stage_probability_given_as_text_is_refused() -> None:
    from pipeline_core.errors import ConfigError
    from pipeline_core.stages import Pipeline, templates

    data = templates.data("small_team")
    data["stages"][1]["probability"] = "0.5"
    with pytest.raises(ConfigError) as err:
        Pipeline.from_dict(data)
    assert err.value.fields == ("stages[1].probability",)


@pytest.mark.parametrize("mark", ["\u202e", "\u2066", "\u200f", "\ufeff"])
def test_bidi_controls_in_a_stage_label_do_not_reach_the_diagram(mark: str) -> None:
    from pipeline_core.stages import Pipeline, templates
    from pipeline_core.stages.diagram import to_dot, to_mermaid

    data = templates.data("small_team")
    data["stages"][1]["label"] = f"Needs{mark}lanif"
    pipeline = Pipeline.from_dict(data)
    for text in (to_mermaid(pipeline), to_dot(pipeline)):
        assert mark not in text
        assert "Needs lanif" in text


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory", "posix/Asia/Shanghai"])
def test_machine_dependent_zone_names_are_refused_by_records_and_calendars(zone: str) -> None:
    """Names whose meaning depends on the machine's tz database are not a team's zone: one check
    (``_model.iana_zone``) for users, teams and business calendars."""
    from pipeline_core.errors import ConfigError, ValidationError
    from pipeline_core.records import Role, Team, User
    from pipeline_core.sla.calendar import BusinessCalendar

    with pytest.raises(ValidationError) as info:
        Team(id="t", name="East", timezone=zone)
    assert info.value.fields == ("timezone",)
    with pytest.raises(ValidationError):
        User(id="u", name="Amy", role=Role.AE, timezone=zone)
    with pytest.raises(ConfigError):
        BusinessCalendar(timezone=zone)
    assert Team(id="t", name="East", timezone="Asia/Shanghai").timezone == "Asia/Shanghai"
