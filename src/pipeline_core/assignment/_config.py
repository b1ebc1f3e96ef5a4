"""Shared helpers for config-as-data in the team layer: pydantic at the boundary, ConfigError out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from pipeline_core._jsonvalue import check_definition
from pipeline_core._model import problems_from_pydantic
from pipeline_core.errors import ConfigError, Problem, ValidationError
from pipeline_core.facts import StageKinds
from pipeline_core.records import Opportunity

_M = TypeVar("_M", bound=pydantic.BaseModel)


def validate_model(model: type[_M], data: Mapping[str, Any], what: str) -> _M:
    """Validate plain data with a pydantic model; raise :class:`ConfigError` listing every problem
    (nesting beyond 64 levels, bytes and sets first: :func:`pipeline_core._jsonvalue.check_definition`)."""
    check_definition(data, what)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ConfigError(what, problems_from_pydantic(exc)) from None


class Strict(pydantic.BaseModel):
    """Base of the boundary models: unknown fields refused, frozen."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


def deal_stages(o: Opportunity, stages: StageKinds | None, what: str) -> StageKinds:
    """The stages that decide ``o``'s status (:func:`pipeline_core.stages.templates.stages_of`:
    ``stages``, else the template the deal names); :class:`ValidationError` (field ``stages``)
    when neither is known or the deal's stage is not one of the template's."""
    from pipeline_core.stages.templates import stages_of

    kinds = stages_of(o, stages)
    known = getattr(kinds, "stage_ids", None)
    if kinds is None or (stages is None and known is not None and o.stage not in known):
        raise ValidationError(
            what,
            [
                Problem(
                    ("stages",),
                    f"opportunity {o.id!r} (stage {o.stage!r}) names no known pipeline, so "
                    "whether it is won or lost cannot be known: pass stages= (the deals' pipeline)",
                    o.stage,
                    "unknown_stage",
                )
            ],
        )
    return kinds
