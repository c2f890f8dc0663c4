"""`GET /metrics` over HTTP, parsed: one sample's value by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from sequencer.rpc.client import RpcClient


class Scrape:
    """The samples of one scrape; `scrape("name", label="x")` is 0.0 when absent."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)


def scrape(client: RpcClient) -> Scrape:
    reply = client.request("GET", "/metrics")
    assert reply.status == 200, reply.status
    return Scrape(reply.body.decode())
