"""A realistic synthetic sales company, deterministic for a seed, streamed.

>>> from datetime import datetime
>>> from zoneinfo import ZoneInfo
>>> company = generate(SampleConfig(seed=1, n_leads=200, start=datetime(2025, 1, 6, tzinfo=ZoneInfo("Asia/Shanghai"))))
>>> sum(1 for _ in company.leads())
200

The generator draws each lead's hidden quality first and lets everything else depend on it and on the
lead's source channel and owner, so the data has the structure real teams see:

- leads arrive mostly in working hours from the channels of ``domain.md`` §2, with BANT attributes
  (budget, authority, need, timeline) and fit attributes (industry, company size) that correlate with
  the hidden quality, so a good scoring model can find the good leads;
- reps differ in skill (response time and win rate), so laggards show in a scorecard;
- first touch comes after a delay that depends on the rep; some leads are never touched;
- converted leads become opportunities that move stage by stage, drop off as lost (with a reason)
  or win; time in each stage is log-normal, longer for weaker leads and colder channels;
- follow-up activities (call, e-mail, visit, meeting, message) with outcomes and reply behaviour;
  a first-touch script variant ("A"/"B") with a real effect, for A/B tests;
- amounts with a heavy tail (log-normal body, Pareto tail), whole units of the currency.

Everything is streamed: :meth:`SampleCompany.leads`, :meth:`~SampleCompany.opportunities`,
:meth:`~SampleCompany.stage_events` and :meth:`~SampleCompany.activities` regenerate the same stories
on each call, and :meth:`~SampleCompany.columns` yields column batches (``dict[str, list]``) for
dataframes, so a million opportunities with ten million events never sit in memory as objects.
"""

from pipeline_core.samples.generator import (
    COLUMN_KINDS,
    SampleCompany,
    SampleConfig,
    StageSource,
    generate,
)

__all__ = ["COLUMN_KINDS", "SampleCompany", "SampleConfig", "StageSource", "generate"]
