"""The `attest` command table agrees with what each owning module registers."""

from __future__ import annotations

import argparse
import importlib

from sequencer.cli import OWNERS, build_parser


def test_every_command_is_registered_by_its_owner() -> None:
    for module in set(OWNERS.values()):
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="command")
        importlib.import_module(module).register(sub)
        registered = set(sub.choices)
        owned = {cmd for cmd, owner in OWNERS.items() if owner == module}
        assert registered == owned, f"{module} registers {registered}, OWNERS says {owned}"


def test_help_lists_every_command_and_a_command_parses_alone() -> None:
    help_text = build_parser([]).format_help()
    for command in OWNERS:
        assert command in help_text
    args = build_parser(["serve"]).parse_args(
        ["--log-level", "WARNING", "serve", "--data-dir", "d"]
    )
    assert args.command == "serve" and args.data_dir == "d"
