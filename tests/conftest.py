"""Shared pytest configuration: the L1 node fixtures live in tests/conftest_l1.py."""

pytest_plugins = ["tests.conftest_l1"]
