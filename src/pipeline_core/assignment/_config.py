"""Shared helpers for config-as-data in the team layer: pydantic at the boundary, ConfigError out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from pipeline_core.errors import ConfigError, Problem

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
