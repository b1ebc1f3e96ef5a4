"""The word lists, shares and time units the sample generator draws from (its vocabulary)."""

from __future__ import annotations

from typing import Final

from pipeline_core.records import ActivityKind, SourceChannel

DAY: Final = 86_400.0
HOUR: Final = 3_600.0

# (channel, share of leads, quality shift, stage-duration factor)
CHANNELS: Final = (
    (SourceChannel.WEBSITE, 0.30, 0.00, 1.0),
    (SourceChannel.SOCIAL_MEDIA, 0.18, -0.05, 1.1),
    (SourceChannel.EVENT, 0.12, 0.05, 0.9),
    (SourceChannel.THIRD_PARTY, 0.15, -0.08, 1.2),
    (SourceChannel.REFERRAL, 0.10, 0.15, 0.7),
    (SourceChannel.ADVERTISING, 0.10, -0.03, 1.1),
    (SourceChannel.COLD_OUTREACH, 0.05, -0.12, 1.4),
)
INDUSTRIES: Final = (
    "manufacturing",
    "saas",
    "education",
    "finance",
    "retail",
    "new_energy",
    "healthcare",
)
REGIONS: Final = ("east", "north", "south", "west")
CITIES: Final = ("北京", "上海", "深圳", "杭州", "成都", "苏州", "武汉", "南京", "广州", "西安")
WORDS: Final = ("星辰", "远航", "华创", "蓝海", "智联", "恒信", "新元", "瑞丰", "云图", "锐思")
SUFFIXES: Final = (
    "科技有限公司",
    "信息技术有限公司",
    "制造有限公司",
    "股份有限公司",
    "教育科技有限公司",
)
SURNAMES: Final = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴")
GIVEN: Final = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "婷")
REP_NAMES: Final = (
    "Li Wei",
    "Wang Fang",
    "Zhang Min",
    "Liu Yang",
    "Chen Jing",
    "Yang Lei",
    "Zhao Jun",
    "Huang Ting",
    "Zhou Jie",
    "Wu Na",
    "Xu Tao",
    "Sun Li",
    "Ma Chao",
    "Zhu Hui",
    "Hu Bo",
    "Guo Rui",
)
LOST_REASONS: Final = ("price", "competitor", "no_budget", "no_decision", "timing", "went_silent")
WON_REASONS: Final = ("product_fit", "price", "relationship", "service")
PAIN_POINTS: Final = ("manual_process", "data_silos", "slow_response", "compliance", "cost")
KINDS: Final = (
    ActivityKind.CALL,
    ActivityKind.EMAIL,
    ActivityKind.MESSAGE,
    ActivityKind.VISIT,
    ActivityKind.MEETING,
)
KIND_WEIGHTS: Final = (0.40, 0.20, 0.25, 0.08, 0.07)
