"""Shared helpers for config-as-data in the team layer: pydantic at the boundary, ConfigError out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from pipeline_core.errors import ConfigError, Problem, ValidationError
from pipeline_core.facts import StageKinds
from pipeline_core.records import Opportunity

_M = TypeVar("_M", bound=pydantic.BaseModel)


def validate_model(model: type[_M], data: Mapping[str, Any], what: str) -> _M:
    """Validate plain data with a pydantic model; raise :class:`ConfigError` listing every problem."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [
            Problem(
                tuple(err["loc"]),
                "unknown field" if err["type"] == "extra_forbidden" else err["msg"],
                err.get("input"),
                err["type"],
                missing=err["type"] == "missing",
            )
            for err in exc.errors(include_url=False)
        ]
        raise ConfigError(what, problems) from None


class Strict(pydantic.BaseModel):
    """Base of the boundary models: unknown fields refused, frozen."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


def default_stages() -> StageKinds:
    """The stage kinds read when no pipeline is given: the built-in ``small_team`` template's."""
    from pipeline_core.stages import templates

    return templates.get("small_team")


def known_stage(o: Opportunity, stages: StageKinds, what: str) -> None:
    """Refuse (:class:`ValidationError`, field ``stages``) a deal whose stage the default
    pipeline does not have: its kind cannot be known without the deal's own pipeline."""
    if o.stage not in getattr(stages, "stage_ids", ()):
        raise ValidationError(
            what,
            [
                Problem(
                    ("stages",),
                    f"opportunity {o.id!r} is in stage {o.stage!r}, which the default small_team "
                    "pipeline does not have: pass stages= (the deals' pipeline)",
                    o.stage,
                    "unknown_stage",
                )
            ],
        )
