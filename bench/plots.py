"""PNG charts of a suite result (`attest bench --plot DIR`), drawn with matplotlib (Agg).

* ``throughput.png`` — acknowledged events/s over time: the hammer (whole system, readers
  verifying) with a dashed line at each L1 checkpoint it saw, and the ingest stage's unsigned
  and signed runs (plain `attest serve`).
* ``ack_latency_cdf.png`` — the CDF of every hammer request's acknowledgement latency, at
  max rate and at half rate, with the ingest stage's p50/p99 as points.
* ``side_by_side.png`` — bars of each measurement beside its floor or peer and its goal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a benchmark box

import matplotlib.pyplot as plt  # after the backend is chosen

_SMOOTH = 5  # 100 ms buckets per plotted point (0.5 s moving average)


def _smooth(values: Sequence[float], k: int = _SMOOTH) -> list[float]:
    out = []
    for i in range(len(values)):
        window = values[max(0, i - k + 1) : i + 1]
        out.append(sum(window) / len(window))
    return out


def throughput(result: dict[str, Any], path: Path) -> Path:
    raw = result.get("raw", {})
    fig, axes = plt.subplots(2, 1, figsize=(10, 7))
    ax = axes[0]
    h = raw.get("hammer")
    if h:
        for name, color in (("max", "tab:blue"), ("half", "tab:orange")):
            if name not in h:
                continue
            ph = h[name]
            offset = ph.get("t_offset_s", 0.0)
            ys = _smooth(ph["timeseries_eps"])
            xs = [offset + 0.1 * i for i in range(len(ys))]
            ax.plot(xs, ys, color=color, label=f"hammer, {name} rate ({ph['eps']:,.0f} ev/s)")
        for k, mark in enumerate(h["checkpoint_marks"]):
            ax.axvline(mark["t_s"], color="gray", linestyle="--", linewidth=0.8,
                       label="L1 checkpoint" if k == 0 else None)  # fmt: skip
        if not h["l1_attached"]:
            ax.text(0.01, 0.95, "no L1 attached: no checkpoint marks", transform=ax.transAxes,
                    va="top")  # fmt: skip
        ax.set_title("Hammer: attest devnet (sequencer + L1 committer), readers verifying proofs")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("seconds")
    ax.set_ylabel("events/s acknowledged (0.5 s avg)")
    ax = axes[1]
    ing = raw.get("ingest")
    if ing:
        batch = ing["params"]["batch"]
        for name, color in (("unsigned", "tab:green"), ("signed", "tab:red")):
            r = ing[name]
            per_s = 1000 / r["bucket_ms"]
            ys = _smooth([c * batch * per_s for c in r["timeseries"]])
            xs = [i * r["bucket_ms"] / 1000 for i in range(len(ys))]
            ax.plot(xs, ys, color=color, label=f"{name}, max rate ({r['eps']:,.0f} ev/s)")
            floor = ing[f"floor_{name}"]["eps"]
            ax.axhline(floor, color=color, linestyle=":", label=f"{name} in-process floor")
        ax.axhline(100_000, color="black", linestyle="-.", linewidth=0.8, label="goal unsigned")
        ax.axhline(25_000, color="gray", linestyle="-.", linewidth=0.8, label="goal signed")
        ax.set_title(f"Ingest: attest serve (no L1), batches of {batch} events")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("seconds")
    ax.set_ylabel("events/s acknowledged (0.5 s avg)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def ack_cdf(result: dict[str, Any], path: Path) -> Path:
    raw = result.get("raw", {})
    fig, ax = plt.subplots(figsize=(8, 5))
    h = raw.get("hammer")
    if h:
        for name, color in (("max", "tab:blue"), ("half", "tab:orange")):
            if name not in h:
                continue
            lat = sorted(h[name]["latencies_ms"])
            if not lat:
                continue
            ys = [(i + 1) / len(lat) for i in range(len(lat))]
            ax.step(lat, ys, where="post", color=color,
                    label=f"hammer {name} rate (n={len(lat)} requests)")  # fmt: skip
    ing = raw.get("ingest")
    if ing:
        u = ing["unsigned"]
        ax.plot([u["ack_p50_ms"], u["ack_p99_ms"]], [0.5, 0.99], "o", color="tab:green",
                label="ingest unsigned max rate p50/p99")  # fmt: skip
        ax.plot([u["half_ack_p50_ms"], u["half_ack_p99_ms"]], [0.5, 0.99], "s",
                color="tab:olive", label="ingest unsigned half rate p50/p99")  # fmt: skip
    ax.axvline(20, color="black", linestyle="-.", linewidth=0.8, label="goal: p99 <= 20 ms at half")
    ax.set_xscale("log")
    ax.set_xlabel("acknowledgement latency, ms (one request = one batch)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("Ack latency CDF")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _bars(ax: Any, title: str, labels: list[str], values: list[float | None],
          goal: float | None, unit: str, log: bool = False) -> None:  # fmt: skip
    shown = [v if v is not None else 0.0 for v in values]
    colors = ["tab:blue", "tab:gray", "tab:orange", "tab:green", "tab:purple"][: len(shown)]
    bars = ax.bar(labels, shown, color=colors)
    for bar, v in zip(bars, values, strict=True):
        text = "n/a" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.3g}")
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)  # fmt: skip
    if goal is not None:
        ax.axhline(goal, color="black", linestyle="-.", linewidth=0.8, label="goal")
        ax.legend(fontsize=7)
    if log and any(v > 0 for v in shown):
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit)
    ax.tick_params(axis="x", labelsize=8)


def side_by_side(result: dict[str, Any], path: Path) -> Path:
    def get(section: str, key: str) -> float | None:
        value = result.get(section, {}).get(key)
        return float(value) if isinstance(value, int | float) else None

    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    _bars(axes[0][0], "Unsigned ingest", ["service", "floor", "hammer\n(+L1, readers)"],
          [get("ingest", "unsigned_eps"), get("floor", "unsigned_eps"), get("hammer", "eps")],
          100_000, "events/s")  # fmt: skip
    _bars(axes[0][1], "Signed ingest", ["service", "floor"],
          [get("ingest", "signed_eps"), get("floor", "signed_eps")], 25_000, "events/s")  # fmt: skip
    _bars(axes[0][2], "Ack p99 (unsigned)", ["max rate", "half rate"],
          [get("ingest", "ack_p99_ms"), get("ingest", "half_ack_p99_ms")], 20, "ms")  # fmt: skip
    tree = result.get("tree", {})
    n = tree.get("n", 0)
    _bars(axes[1][0], f"Tree, {n:,} leaves (append + root)", ["ours", "keccak floor", "pymerkle"],
          [get("tree", "ours_s"), get("tree", "floor_s"), get("tree", "pymerkle_s")], None,
          "CPU seconds", log=True)  # fmt: skip
    ax = axes[1][1]
    _bars(ax, "Proofs", ["served\n(1/request)", "served\n(batched)", "verified\n(1 process)",
                         "verified\n(all cores)"],
          [get("proofs", "serve_per_s"), get("proofs", "serve_batched_per_s"),
           get("proofs", "verify_per_s"), get("proofs", "verify_parallel_per_s")],
          None, "proofs/s")  # fmt: skip
    # Two goals on one panel: each drawn over the bars it applies to.
    ax.hlines(20_000, -0.4, 1.4, colors="black", linestyles="-.", linewidth=0.8,
              label="goal served")  # fmt: skip
    ax.hlines(50_000, 1.6, 3.4, colors="gray", linestyles="-.", linewidth=0.8,
              label="goal verified")  # fmt: skip
    ax.legend(fontsize=7)
    l1 = result.get("l1", {})
    _bars(axes[1][2], "L1 gas", ["checkpoint\n(worst, 2^40)", "naive registry\nper event",
                                 "per event,\n1k/checkpoint"],
          [get("l1", "commit_gas"), get("l1", "naive_registry_gas_per_event"),
           l1.get("gas_per_event", {}).get("1000")], 150_000, "gas", log=True)  # fmt: skip
    mode = result.get("params", {}).get("mode", "?")
    m = result.get("machine", {})
    fig.suptitle(f"attest bench ({mode}) on {m.get('cores')} cores, {m.get('cpu')}, "
                 f"Python {m.get('python')}", fontsize=11)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_plots(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the three charts into `out_dir` (created if missing); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        throughput(result, out_dir / "throughput.png"),
        ack_cdf(result, out_dir / "ack_latency_cdf.png"),
        side_by_side(result, out_dir / "side_by_side.png"),
    ]
