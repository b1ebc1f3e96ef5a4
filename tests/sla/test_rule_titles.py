"""Rules carry titles a person reads (Chinese and English at least), kept through plain data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.sla import Policy, default_policy
from pipeline_core.stages import templates


def test_every_default_rule_has_a_chinese_and_an_english_title() -> None:
    policy = default_policy()
    for rule in (*policy.rules, *policy.risks):
        titles = dict(rule.titles)
        assert titles.get("zh") and titles.get("en"), rule.id
        assert rule.title("zh-CN") == titles["zh"]  # a region falls back to its language
        assert rule.title("fr") == titles["en"]  # an unknown language falls back to English
    first_touch = next(r for r in policy.rules if r.id == "lead.first_touch")
    assert first_touch.title("zh") == "首次触达"


def test_titles_survive_plain_data() -> None:
    policy = default_policy()
    again = Policy.from_dict(policy.to_dict())
    assert again == policy
    assert again.to_dict()["rules"][0]["titles"] == {"en": "First touch", "zh": "首次触达"}


def test_a_rule_without_titles_reads_as_its_label_then_its_id() -> None:
    data = default_policy().to_dict()
    data["rules"][0]["titles"] = {}
    rule = Policy.from_dict(data).rules[0]
    assert rule.title("zh") == rule.label
    data["rules"][0]["label"] = ""
    assert Policy.from_dict(data).rules[0].title("zh") == "lead.first_touch"


def test_stage_sop_rules_take_the_stage_actions_labels() -> None:
    pipeline = templates.get("small_team")
    policy = default_policy().with_pipeline(pipeline)
    actions = {a.id: a for s in pipeline.stages for a in s.actions}
    for rule in policy.rules:
        if rule.id.startswith("sop.") and rule.action in actions and not rule.obligation:
            action = actions[rule.action]
            assert rule.title("en") == action.label
            if action.label_zh:
                assert rule.title("zh-CN") == action.label_zh


@given(
    st.dictionaries(
        st.sampled_from(["zh", "en", "de", "ja"]), st.text(min_size=1, max_size=20), max_size=4
    ),
    st.sampled_from(["zh", "zh-CN", "en", "en-GB", "de", "fr"]),
)
def test_title_picks_the_language_then_english_then_the_label(
    titles: dict[str, str], lang: str
) -> None:
    data = default_policy().to_dict()
    data["rules"][0]["titles"] = titles
    rule = Policy.from_dict(data).rules[0]
    base = lang.split("-")[0]
    expected = titles.get(lang) or titles.get(base) or titles.get("en") or rule.label
    assert rule.title(lang) == expected
