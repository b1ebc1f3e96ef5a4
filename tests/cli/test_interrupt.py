"""Ctrl-C ends the command line with exit code 130 and one line on stderr, never a traceback,
wherever it lands, also when pydantic wrapped it while serialising a record."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Annotated, Any

import pydantic
import pytest

import pipeline_core.cli as cli


def _parser_running(handler: Callable[[argparse.Namespace], int]) -> Callable[[], Any]:
    def build() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="pipeline-core")
        parser.set_defaults(handler=handler)
        return parser

    return build


def _interrupt(_: argparse.Namespace) -> int:
    raise KeyboardInterrupt


def _interrupt_inside_pydantic(_: argparse.Namespace) -> int:
    def serializer(value: int) -> int:
        raise KeyboardInterrupt  # as the SIGINT handler does, mid-serialisation

    adapter = pydantic.TypeAdapter(Annotated[int, pydantic.PlainSerializer(serializer)])
    adapter.dump_json(1)  # raises PydanticSerializationError, a ValueError
    return 0


def _interrupt_while_building(*_: object) -> argparse.ArgumentParser:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "build",
    [
        _parser_running(_interrupt),
        _parser_running(_interrupt_inside_pydantic),
        _interrupt_while_building,
    ],
    ids=["in-a-command", "inside-pydantic", "while-starting"],
)
def test_ctrl_c_exits_130_without_a_traceback(
    build: Callable[[], Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "build_parser", build)
    assert cli.main([]) == 130 == cli.EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert err == "pipeline-core: interrupted\n"


def test_a_plain_value_error_is_still_bad_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def bad(_: argparse.Namespace) -> int:
        raise ValueError("KeyboardInterrupt is only a word here")

    monkeypatch.setattr(cli, "build_parser", _parser_running(bad))
    assert cli.main([]) == 2
    assert "only a word" in capsys.readouterr().err
