"""Structured logs carry the `extra=` context, as text pairs or as JSON fields."""

from __future__ import annotations

import logging

import orjson

from sequencer.logs import JsonFormatter, TextFormatter


def _record() -> logging.LogRecord:
    record = logging.LogRecord(
        "sequencer.node.writer", logging.INFO, __file__, 1, "group committed", (), None
    )
    record.tree_size = 1024  # what `extra={"tree_size": 1024, ...}` sets
    record.elapsed = 0.004
    return record


def test_text_logs_append_the_context() -> None:
    line = TextFormatter("%(levelname)s %(name)s %(message)s").format(_record())
    assert line == "INFO sequencer.node.writer group committed tree_size=1024 elapsed=0.004"


def test_json_logs_are_one_object_with_the_context() -> None:
    doc = orjson.loads(JsonFormatter().format(_record()))
    assert doc["message"] == "group committed" and doc["logger"] == "sequencer.node.writer"
    assert (doc["tree_size"], doc["elapsed"], doc["level"]) == (1024, 0.004, "INFO")
