"""``python -m pipeline_core.samples``: generate a company and print a readable summary."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from pipeline_core.samples.generator import SampleCompany, SampleConfig, generate


def _table(title: str, counts: Counter[str], total: int, width: int = 28) -> list[str]:
    lines = [f"{title}", f"  {'':<{width}} {'count':>7} {'share':>7}"]
    for key, n in counts.most_common():
        lines.append(f"  {key:<{width}} {n:>7,} {n / total:>7.1%}")
    return lines


def summary(company: SampleCompany) -> str:
    """A plain-text summary: leads by source and status, deals by stage and owner, amounts."""
    cfg = company.config
    names = {u.id: u.name for u in company.users}
    leads = Counter[str]()
    statuses = Counter[str]()
    for lead in company.leads():
        leads[lead.source] += 1
        statuses[lead.status.value] += 1
    stages = Counter[str]()
    owners = Counter[str]()
    won_amount = Decimal(0)
    n_opps = 0
    for opp in company.opportunities():
        n_opps += 1
        stages[opp.stage] += 1
        owners[f"{names[opp.owner_id]} ({opp.owner_id})"] += 1
        if opp.stage == cfg.won_stage and opp.expected_amount is not None:
            won_amount += opp.expected_amount.amount
    n_events = sum(1 for _ in company.stage_events())
    n_acts = sum(1 for _ in company.activities())
    n_leads = sum(leads.values())
    end = cfg.end
    lines = [
        f"Sample company (seed {cfg.seed}): {cfg.n_teams} teams, {len(company.users)} people",
        f"Period: {cfg.origin:%Y-%m-%d} to {end:%Y-%m-%d} ({cfg.days} days)",
        f"{n_leads:,} leads, {n_opps:,} opportunities, {n_events:,} stage moves, "
        f"{n_acts:,} follow-up activities",
        "",
        *_table("Leads by source", leads, n_leads),
        "",
        *_table("Leads by status", statuses, n_leads),
        "",
    ]
    order = {s: i for i, s in enumerate((*cfg.stage_ids, cfg.won_stage, cfg.lost_stage))}
    ordered = Counter[str]()
    for stage in sorted(stages, key=lambda s: order.get(s, 99)):
        ordered[stage] = stages[stage]
    lines += [f"Opportunities by stage (as of {end:%Y-%m-%d})"]
    lines += [f"  {s:<28} {n:>7,} {n / max(n_opps, 1):>7.1%}" for s, n in ordered.items()]
    lines += ["", *_table("Opportunities by owner", owners, max(n_opps, 1))]
    lines += ["", f"Won: {stages[cfg.won_stage]:,} deals, {won_amount:,} {cfg.currency}"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -m pipeline_core.samples [--seed N] [--leads N] [--days N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline_core.samples",
        description="Generate a synthetic sales team's quarter and print a summary.",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--leads", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--summary", action="store_true", help="print the summary (the default)")
    args = parser.parse_args(argv)
    start = datetime(2025, 1, 6, tzinfo=ZoneInfo("Asia/Shanghai"))
    company = generate(
        SampleConfig(seed=args.seed, n_leads=args.leads, days=args.days, start=start)
    )
    print(summary(company))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
