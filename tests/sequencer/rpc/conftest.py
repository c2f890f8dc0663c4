"""Every in-process HTTP test runs twice: connections on the main loop, and on the I/O thread.

A test module that imports `serve_http` gets its tests parametrized by `http_loop`; in the
``io_thread`` variant its `serve_http` serves with ``io_thread=True`` (the default of `attest
serve`). Tests on virtual time (`mock_clock`, `autojump_clock`) run on the main loop only: a
second trio loop keeps real time.
"""

from __future__ import annotations

from functools import partial

import pytest

from sequencer.rpc import http_server

_VIRTUAL_TIME = frozenset({"mock_clock", "autojump_clock"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if hasattr(metafunc.module, "serve_http") and "http_loop" in metafunc.fixturenames:
        # Virtual time reaches the main loop only: such a test is not generated twice (rather
        # than generated and skipped).
        loops = ["main"] if _VIRTUAL_TIME & set(metafunc.fixturenames) else ["main", "io_thread"]
        metafunc.parametrize("http_loop", loops, indirect=True)


@pytest.fixture(autouse=True)
def http_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    mode: str = getattr(request, "param", "main")
    if mode == "io_thread":
        monkeypatch.setattr(
            request.module, "serve_http", partial(http_server.serve_http, io_thread=True)
        )
    return mode
