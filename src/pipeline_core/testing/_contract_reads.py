"""The storage contract, reads: every typed query, paging, values that must survive exactly,
scoped reads and a closed store (internal to :mod:`pipeline_core.testing.storage_contract`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_core.errors import (
    StorageError,
    ValidationError,
)
from pipeline_core.records import (
    Account,
    Contact,
    Money,
    NextStep,
    Role,
    Team,
    User,
)
from pipeline_core.storage.ports import Store
from pipeline_core.testing import _contract_data as fixtures
from pipeline_core.testing import strategies as pcst
from pipeline_core.testing._contract_data import ContractBase

__all__ = ["ReadsContract"]


class ReadsContract(ContractBase):
    """The read half of :class:`~pipeline_core.testing.storage_contract.StoreContract`."""

    # ------------------------------------------------------------------ queries

    def test_open_opportunities_by_owner_and_team(self, store: Store) -> None:
        store.opportunities.bulk_add(
            [
                fixtures.make_opportunity(1, owner_id="u1", team_id="t1"),
                fixtures.make_opportunity(2, owner_id="u2", team_id="t1"),
                fixtures.make_opportunity(3, owner_id="u1", team_id="t2"),
                fixtures.make_opportunity(
                    4, owner_id="u1", team_id="t1", stage="won", closed_at=fixtures.T0
                ),
                fixtures.make_opportunity(5, owner_id="u1", team_id=None),
            ]
        )
        opps = store.opportunities
        assert fixtures.ids_of(opps.open()) == ["opp-1", "opp-2", "opp-3", "opp-5"]
        assert fixtures.ids_of(opps.open(owner_id="u1")) == ["opp-1", "opp-3", "opp-5"]
        assert fixtures.ids_of(opps.open(team_id="t1")) == ["opp-1", "opp-2"]
        assert fixtures.ids_of(opps.open(owner_id="u1", team_id="t1")) == ["opp-1"]
        assert fixtures.ids_of(opps.by_owner("u1")) == ["opp-1", "opp-3", "opp-4", "opp-5"]
        assert fixtures.ids_of(opps.by_owner("u1", include_closed=False)) == [
            "opp-1",
            "opp-3",
            "opp-5",
        ]
        assert fixtures.ids_of(opps.by_team("t1")) == ["opp-1", "opp-2", "opp-4"]
        assert fixtures.ids_of(opps.by_team("t1", include_closed=False)) == ["opp-1", "opp-2"]
        assert fixtures.ids_of(opps.by_stage("won")) == ["opp-4"]
        assert fixtures.ids_of(opps.open(limit=2)) == ["opp-1", "opp-2"]

    def test_closing_an_opportunity_removes_it_from_open(self, store: Store) -> None:
        store.opportunities.add(fixtures.make_opportunity(1))
        opp = store.opportunities.get("opp-1")
        store.opportunities.save(
            opp.evolve(stage="lost", closed_at=fixtures.T0 + timedelta(days=1))
        )
        assert list(store.opportunities.open()) == []

    def test_due_by_orders_by_due_time_and_skips_closed(self, store: Store) -> None:
        def due(hours: int) -> NextStep:
            return NextStep(action="call", due_at=fixtures.T0 + timedelta(hours=hours))

        store.opportunities.bulk_add(
            [
                fixtures.make_opportunity("a", next_step=due(5)),
                fixtures.make_opportunity("b", next_step=due(1)),
                fixtures.make_opportunity("c", next_step=due(5)),
                fixtures.make_opportunity("d", next_step=due(9)),
                fixtures.make_opportunity("e"),
                fixtures.make_opportunity(
                    "f", next_step=due(0), closed_at=fixtures.T0, stage="won"
                ),
                fixtures.make_opportunity("g", next_step=due(2), owner_id="u2"),
            ]
        )
        t = fixtures.T0 + timedelta(hours=5)
        assert fixtures.ids_of(store.opportunities.due_by(t)) == [
            "opp-b",
            "opp-g",
            "opp-a",
            "opp-c",
        ]
        assert fixtures.ids_of(store.opportunities.due_by(t, owner_id="u2")) == ["opp-g"]
        assert fixtures.ids_of(store.opportunities.due_by(t, limit=1)) == ["opp-b"]
        # Another offset, same instant: the comparison is by instant.
        shanghai = t.astimezone(ZoneInfo("Asia/Shanghai"))
        assert fixtures.ids_of(store.opportunities.due_by(shanghai)) == [
            "opp-b",
            "opp-g",
            "opp-a",
            "opp-c",
        ]

    def test_naive_query_times_are_refused(self, store: Store) -> None:
        naive = datetime(2025, 1, 1)  # noqa: DTZ001 - the point of the test
        with pytest.raises(ValidationError):
            store.opportunities.due_by(naive)
        with pytest.raises(ValidationError):
            store.stage_events.between(naive, fixtures.T0)

    def test_tags_follow_saves(self, store: Store) -> None:
        store.opportunities.add(fixtures.make_opportunity(1, tags=frozenset({"vip", "q1"})))
        store.opportunities.add(fixtures.make_opportunity(2, tags=frozenset({"q1"})))
        assert fixtures.ids_of(store.opportunities.by_tag("q1")) == ["opp-1", "opp-2"]
        opp = store.opportunities.get("opp-1")
        store.opportunities.save(opp.evolve(tags=frozenset({"vip"})))
        assert fixtures.ids_of(store.opportunities.by_tag("q1")) == ["opp-2"]
        assert fixtures.ids_of(store.opportunities.by_tag("vip")) == ["opp-1"]
        assert list(store.opportunities.by_tag("none")) == []

    def test_lead_account_contact_user_team_queries(self, store: Store) -> None:
        store.leads.bulk_add(
            [
                fixtures.make_lead(
                    1, owner_id="u1", next_step=NextStep(action="x", due_at=fixtures.T0)
                ),
                fixtures.make_lead(2, owner_id="u2", tags=frozenset({"hot"})),
                fixtures.make_lead(
                    3,
                    owner_id="u1",
                    next_step=NextStep(action="x", due_at=fixtures.T0 - timedelta(1)),
                ),
            ]
        )
        assert fixtures.ids_of(store.leads.by_owner("u1")) == ["lead-1", "lead-3"]
        assert fixtures.ids_of(store.leads.by_tag("hot")) == ["lead-2"]
        assert fixtures.ids_of(store.leads.due_by(fixtures.T0)) == ["lead-3", "lead-1"]
        store.accounts.add(Account(id="a1", name="A", created_at=fixtures.T0, owner_id="u1"))
        store.accounts.add(
            Account(id="a2", name="B", created_at=fixtures.T0, owner_id="u2", tags=frozenset({"k"}))
        )
        assert fixtures.ids_of(store.accounts.by_owner("u2")) == ["a2"]
        assert fixtures.ids_of(store.accounts.by_tag("k")) == ["a2"]
        store.contacts.add(Contact(id="c1", name="X", created_at=fixtures.T0, account_id="a1"))
        store.contacts.add(Contact(id="c2", name="Y", created_at=fixtures.T0, account_id="a2"))
        assert fixtures.ids_of(store.contacts.by_account("a1")) == ["c1"]
        store.users.add(User(id="u1", name="U", role=Role.AE, team_id="t1"))
        store.users.add(User(id="u2", name="V", role=Role.SDR, team_id="t2"))
        assert fixtures.ids_of(store.users.by_team("t2")) == ["u2"]
        store.teams.add(Team(id="t1", name="A", parent_id="t0"))
        store.teams.add(Team(id="t2", name="B"))
        assert fixtures.ids_of(store.teams.children("t0")) == ["t1"]

    def test_events_in_a_time_range_are_half_open_and_ordered(self, store: Store) -> None:
        at = [fixtures.T0 + timedelta(minutes=m) for m in (30, 0, 10, 10, 20)]
        store.stage_events.bulk_append(
            [
                fixtures.make_event(i, opp="opp-1" if i % 2 else "opp-2", at=a)
                for i, a in enumerate(at)
            ]
        )
        got = fixtures.ids_of(
            store.stage_events.between(fixtures.T0, fixtures.T0 + timedelta(minutes=30))
        )
        assert got == ["ev-1", "ev-2", "ev-3", "ev-4"]
        assert fixtures.ids_of(store.stage_events.for_opportunity("opp-1")) == ["ev-1", "ev-3"]
        assert fixtures.ids_of(
            store.stage_events.between(fixtures.T0, fixtures.T0 + timedelta(minutes=30), limit=2)
        ) == [
            "ev-1",
            "ev-2",
        ]

    def test_events_at_one_instant_come_in_seq_order(self, store: Store) -> None:
        # Three moves of one deal within one microsecond-exact instant, written with ids whose
        # alphabetical order is the reverse of the order they were made in: the store gives them
        # back by (at, seq), the event order of pipeline_core.facts, never by id.
        same = fixtures.T0 + timedelta(microseconds=400_123)
        store.stage_events.bulk_append(
            [
                fixtures.make_event("c", at=same, seq=2, from_stage="new", to_stage="qualified"),
                fixtures.make_event("b", at=same, seq=3, from_stage="qualified", to_stage="quote"),
                fixtures.make_event("a", at=same, seq=4, from_stage="quote", to_stage="won"),
                fixtures.make_event("z", at=fixtures.T0, seq=1, from_stage=None, to_stage="new"),
            ]
        )
        expected = ["ev-z", "ev-c", "ev-b", "ev-a"]
        assert fixtures.ids_of(store.stage_events.for_opportunity("opp-1")) == expected
        assert (
            fixtures.ids_of(
                store.stage_events.between(fixtures.T0, fixtures.T0 + timedelta(seconds=1))
            )
            == expected
        )
        assert [e.seq for e in store.stage_events.for_opportunity("opp-1")] == [1, 2, 3, 4]
        # keyset pages of two resume after (at, seq, id), not after id
        first = fixtures.ids_of(
            store.stage_events.between(fixtures.T0, fixtures.T0 + timedelta(seconds=1), limit=2)
        )
        assert first == ["ev-z", "ev-c"]
        from pipeline_core.storage.ports import Query

        # the page after ev-c (at=same, seq=2): ev-b (seq 3) and ev-a (seq 4); resuming after
        # the id "ev-c" alone would give nothing ("ev-a" and "ev-b" sort before it)
        events_table = store.stage_events.table
        resume = Query(events_table, order=("at", "seq"), after=(same, 2, "ev-c"), limit=2)
        assert fixtures.ids_of(store.backend.stream(resume)) == ["ev-b", "ev-a"]

    def test_a_merged_duplicate_leaves_the_open_list(self, store: Store) -> None:
        from pipeline_core.identity.merge import plan_merge
        from pipeline_core.ids import SequentialIds

        a = fixtures.make_opportunity(1)
        later = fixtures.T0 + timedelta(hours=1)
        b = fixtures.make_opportunity(2, created_at=later, stage_entered_at=later, owner_id="u2")
        store.opportunities.bulk_add([a, b])
        plan = plan_merge([a, b], at=fixtures.T0 + timedelta(days=1), by="mgr", ids=SequentialIds())
        with store.unit_of_work() as uow:
            uow.opportunities.save(plan.survivor)
            for m in plan.merged:
                uow.opportunities.save(m)
        assert fixtures.ids_of(store.opportunities.open()) == ["opp-1"]
        kept = store.opportunities.get("opp-2")
        assert kept.closed_at == fixtures.T0 + timedelta(days=1)
        assert kept.custom["merged_into"] == "opp-1"

    def test_activity_queries(self, store: Store) -> None:
        store.activities.bulk_append(
            [
                fixtures.make_activity(
                    1, at=fixtures.T0 + timedelta(hours=2), tags=frozenset({"demo"})
                ),
                fixtures.make_activity(
                    2, at=fixtures.T0, opportunity_id=None, lead_id="lead-1", owner_id="u2"
                ),
                fixtures.make_activity(
                    3, at=fixtures.T0 + timedelta(hours=1), opportunity_id=None, account_id="opp-1"
                ),
            ]
        )
        assert fixtures.ids_of(store.activities.for_subject("opp-1")) == ["act-3", "act-1"]
        assert fixtures.ids_of(store.activities.for_subject("lead-1")) == ["act-2"]
        assert fixtures.ids_of(store.activities.by_owner("u1")) == ["act-3", "act-1"]
        window = (fixtures.T0, fixtures.T0 + timedelta(hours=2))
        assert fixtures.ids_of(store.activities.between(*window)) == ["act-2", "act-3"]
        assert fixtures.ids_of(store.activities.between(*window, owner_id="u2")) == ["act-2"]
        assert fixtures.ids_of(store.activities.by_tag("demo")) == ["act-1"]

    def test_journal_queries(self, store: Store) -> None:
        store.journal.bulk_append(
            [
                fixtures.make_journal(1, at=fixtures.T0 + timedelta(days=1)),
                fixtures.make_journal(2, at=fixtures.T0, kind="merge"),
                fixtures.make_journal(3, at=fixtures.T0 + timedelta(days=2), subject_id="opp-2"),
                fixtures.make_journal(4, at=fixtures.T0 + timedelta(days=3), kind="pool_return"),
            ]
        )
        assert fixtures.ids_of(store.journal.for_subject("opp-1")) == ["j-2", "j-1", "j-4"]
        assert fixtures.ids_of(store.journal.for_subject("opp-1", kind="transfer")) == ["j-1"]
        assert fixtures.ids_of(store.journal.by_kind("transfer")) == ["j-1", "j-3"]
        assert fixtures.ids_of(
            store.journal.by_kind("transfer", start=fixtures.T0 + timedelta(days=2))
        ) == ["j-3"]
        assert fixtures.ids_of(
            store.journal.by_kind("transfer", end=fixtures.T0 + timedelta(days=2))
        ) == ["j-1"]

    def test_sla_outcome_queries(self, store: Store) -> None:
        store.sla_outcomes.bulk_add(
            [
                fixtures.make_sla_outcome(1, due_at=fixtures.T0 + timedelta(hours=3)),
                fixtures.make_sla_outcome(
                    2, due_at=fixtures.T0 + timedelta(hours=1), owner_id="u2"
                ),
                fixtures.make_sla_outcome(3, subject_id="lead-2"),
            ]
        )
        assert fixtures.ids_of(store.sla_outcomes.for_subject("lead-1")) == ["sla-2", "sla-1"]
        window = (fixtures.T0, fixtures.T0 + timedelta(hours=4))
        assert fixtures.ids_of(store.sla_outcomes.due_between(*window)) == ["sla-2", "sla-1"]
        assert fixtures.ids_of(store.sla_outcomes.due_between(*window, owner_id="u2")) == ["sla-2"]

    def test_streaming_and_keyset_pages_cover_everything_once(self, store: Store) -> None:
        n = 2_600  # more than one internal page of the SQL adapters
        due = NextStep(action="call", due_at=fixtures.T0)  # all equal: the order falls back to id
        store.opportunities.bulk_add(
            (fixtures.make_opportunity(f"{i:05d}", next_step=due) for i in range(n)),
            batch_size=1_000,
        )
        expected = [f"opp-{i:05d}" for i in range(n)]
        assert fixtures.ids_of(store.opportunities.due_by(fixtures.T0)) == expected
        pages: list[str] = []
        after: str | None = None
        while True:
            page = fixtures.ids_of(store.opportunities.all(after=after, limit=700))
            if not page:
                break
            pages += page
            after = page[-1]
        assert pages == expected
        assert (
            fixtures.ids_of(store.opportunities.due_by(fixtures.T0, limit=2_100))
            == expected[:2_100]
        )

    def test_negative_limit_is_refused(self, store: Store) -> None:
        with pytest.raises(ValueError):
            store.opportunities.open(limit=-1)

    # ------------------------------------------------------------------ content survives

    @pytest.mark.parametrize("text", fixtures.HOSTILE_TEXTS, ids=lambda t: repr(t[:12]))
    def test_hostile_text_survives(self, store: Store, text: str) -> None:
        opp = fixtures.make_opportunity(
            1, name=text[:300], needs=text, tags=frozenset({text[:100]})
        )
        store.opportunities.add(opp)
        act = fixtures.make_activity(1, notes=text)
        store.activities.append(act)
        assert store.opportunities.get("opp-1") == opp
        assert store.activities.get("act-1") == act
        assert fixtures.ids_of(store.opportunities.by_tag(text[:100])) == ["opp-1"]
        assert store.opportunities.count() == 1  # nothing dropped, nothing injected
        lead = fixtures.make_lead(
            1,
            source=text[:64],
            company=text[:300],
            contact_name=text[:300],
            industry=text[:2_000],
            region=text[:2_000],
            needs=text,
            pain_points=(text[:300],),
            owner_id="u1",
            disqualified_reason=text[:2_000],
            next_step=NextStep(action=text[:2_000], due_at=fixtures.T0),
            tags=frozenset({text[:100]}),
            custom={text[:100]: text[:10_000]},
        )
        store.leads.add(lead)
        assert store.leads.get("lead-1") == lead
        entry = fixtures.make_journal(
            1, reason=text[:2_000], payload={text[:50]: [text, {"k": text}]}
        )
        store.journal.append(entry)
        assert store.journal.get("j-1") == entry
        assert store.journal.append(entry) is False

    def test_nul_either_survives_or_is_refused_clearly(self, store: Store) -> None:
        # Records refuse NUL in text themselves (PostgreSQL cannot store it), so every adapter
        # holds the same values; an adapter that cannot store NUL (``allows_nul = False``) must
        # still refuse it clearly if a record holding one reaches it some other way.
        with pytest.raises(ValidationError) as info:
            fixtures.make_opportunity(1, needs="before\x00after")
        assert "needs" in info.value.fields
        assert store.opportunities.count() == 0

    def test_amounts_and_offsets_survive_exactly(self, store: Store) -> None:
        plus8 = datetime(2025, 3, 1, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
        opp = fixtures.make_opportunity(
            1,
            created_at=plus8,
            stage_entered_at=plus8,
            expected_amount=Money.of(Decimal("123456789012345678.10"), "CNY"),
            probability=0.1,
        )
        store.opportunities.add(opp)
        got = store.opportunities.get("opp-1")
        assert got == opp
        assert got.expected_amount is not None
        assert str(got.expected_amount.amount) == "123456789012345678.10"
        assert got.created_at.utcoffset() == timedelta(hours=8)

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,  # one suite, one subclass per adapter: intended
        ],
    )
    @given(data=st.data())
    def test_any_record_round_trips(self, store: Store, data: st.DataObject) -> None:
        name, strategy = data.draw(
            st.sampled_from(
                [
                    ("leads", pcst.leads()),
                    ("opportunities", pcst.opportunities()),
                    ("accounts", pcst.accounts()),
                    ("contacts", pcst.contacts()),
                    ("users", pcst.users()),
                    ("teams", pcst.teams()),
                    ("sla_outcomes", pcst.sla_outcomes()),
                    ("stage_events", pcst.stage_events()),
                    ("activities", pcst.activities()),
                    ("journal", pcst.journal_entries()),
                ]
            )
        )
        drawn: Any = data.draw(strategy)
        # A fresh id per example: the store lives across examples (and replays).
        record: Any = type(drawn).from_dict(
            {**drawn.to_dict(), "id": f"{uuid.uuid4().hex}-{drawn.id}"}
        )
        repo = getattr(store, name)
        write = repo.append if name in fixtures.LOGS else repo.add
        if not self.allows_nul and fixtures.has_nul(record.to_dict()):
            with pytest.raises(ValidationError):
                write(record)
            assert repo.find(record.id) is None
            return
        write(record)
        assert repo.get(record.id) == record

    # ------------------------------------------------------------------ scoped reads

    def test_a_scoped_store_reads_only_what_the_actor_may_read(self, store: Store) -> None:
        # A ScopedStore decorates this store's backend: its visibility reaches the adapter as
        # conditions the typed queries never send (``in`` owners, ``any`` of owner or team,
        # ``in_table`` through the parent deal or account), in ``stream`` and ``columns``.
        from pipeline_core.access import ScopedStore
        from pipeline_core.storage.ports import Query, Table

        store.teams.bulk_add(
            [Team(id="east", name="East", manager_id="m1"), Team(id="west", name="West")]
        )
        store.users.bulk_add(
            [
                User(id="m1", name="Mia", role=Role.MANAGER, team_id="east"),
                User(id="a1", name="Ann", role=Role.AE, team_id="east"),
                User(id="a2", name="Al", role=Role.AE, team_id="east"),
                User(id="b1", name="Bob", role=Role.AE, team_id="west"),
            ]
        )
        deals = [("a1", "east"), ("a2", "east"), ("b1", "west"), ("a1", "west"), ("b1", "east")]
        store.opportunities.bulk_add(
            [fixtures.make_opportunity(i, owner_id=o, team_id=t) for i, (o, t) in enumerate(deals)]
        )
        store.stage_events.bulk_append(
            [
                fixtures.make_event(f"{i}-{h}", opp=f"opp-{i}", at=fixtures.T0 + timedelta(hours=h))
                for i in range(len(deals))
                for h in range(2)
            ]
        )
        store.accounts.bulk_add(
            [
                Account(id=f"acc-{u}", name=u, created_at=fixtures.T0, owner_id=u)
                for u in ("a1", "b1")
            ]
        )
        store.contacts.bulk_add(
            [
                Contact(id=f"con-{u}", name=u, created_at=fixtures.T0, account_id=f"acc-{u}")
                for u in ("a1", "b1")
            ]
        )
        hour = fixtures.T0 + timedelta(hours=1)
        # A rep reads their own deals (opp-0, opp-3) and, through them, their events; a manager
        # of east reads the deals of east's people (a1, a2, m1) or filed under east (opp-4).
        for actor, opps in (("a1", [0, 3]), ("m1", [0, 1, 3, 4]), ("b1", [2, 4])):
            scoped = ScopedStore(store, actor)
            assert fixtures.ids_of(scoped.opportunities.all()) == [f"opp-{i}" for i in opps], actor
            assert fixtures.ids_of(scoped.opportunities.open()) == [f"opp-{i}" for i in opps], actor
            events = [f"ev-{i}-{h}" for h in range(2) for i in opps]  # by at, then id
            assert (
                fixtures.ids_of(
                    scoped.stage_events.between(fixtures.T0, fixtures.T0 + timedelta(days=1))
                )
                == events
            )
            assert fixtures.ids_of(
                scoped.stage_events.between(hour, fixtures.T0 + timedelta(days=1))
            ) == [f"ev-{i}-1" for i in opps]
            assert fixtures.ids_of(scoped.stage_events.between(fixtures.T0, hour, limit=1)) == [
                f"ev-{opps[0]}-0"
            ]
            assert scoped.stage_events.count() == 2 * len(opps)
            assert scoped.opportunities.count() == len(opps)
            events_table: Table = store.stage_events.table
            rows = [
                row[0]
                for batch in scoped.backend.columns(Query(events_table, order=("at",)), ["id"])
                for row in batch
            ]
            assert rows == events, actor
        rep = ScopedStore(store, "a1")
        assert fixtures.ids_of(rep.contacts.all()) == ["con-a1"]  # through the account a1 owns
        assert rep.opportunities.find("opp-2") is None
        assert fixtures.ids_of(rep.stage_events.for_opportunity("opp-2")) == []

    # ------------------------------------------------------------------ lifecycle

    def test_closed_store_refuses_work(self, store: Store) -> None:
        store.close()
        with pytest.raises(StorageError):
            store.opportunities.add(fixtures.make_opportunity(1))
        # ... reads too: a closed store never answers as if it were empty
        with pytest.raises(StorageError):
            store.opportunities.find("opp-1")
        with pytest.raises(StorageError):
            list(store.opportunities.all())
        with pytest.raises(StorageError):
            store.opportunities.count()
