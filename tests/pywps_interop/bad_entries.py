"""Entries of [server] processes that cannot be used, for the start-up error tests."""

from __future__ import annotations

from pywps import LiteralOutput, Process

from tests.pywps_interop.suite import Progress


def numbers() -> list[int]:
    return [42]


def text() -> str:
    return "progress"


def clashing() -> list[Process]:
    """A process whose identifier the suite already uses."""
    return [Progress()]


def output_as_input() -> list[Process]:
    """A process given an output where an input belongs."""
    return [
        Process(lambda request, response: response, "odd", "Odd", inputs=[LiteralOutput("level", "Level")])
    ]
