"""PNG plots of a report (matplotlib, headless): steady-state latency per target, the time breakdown
from runtime start to one steady inference, and the page-experience scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt

from .results import OK

PHASES = (  # (report key, legend) in the order a page goes through them
    ("runtime_ms", "runtime start (Pyodide + wheel, ort-web import)"),
    ("load_ms", "model load"),
    ("first_ms", "first inference (warm-up)"),
    ("median_ms", "steady inference (median)"),
)


def _label(row: dict[str, Any]) -> str:
    return row["target"] + (f" x{row['threads']}" if row["threads"] is not None else "")


def _latency(rows: list[dict[str, Any]], title: str, path: Path) -> None:
    labels = [_label(r) for r in rows]
    medians = [r["median_ms"] for r in rows]
    tails = [r["p90_ms"] - r["median_ms"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.6))
    ax.barh(labels, medians, xerr=[[0] * len(rows), tails], color="#3a7bd5", capsize=3)
    if max(medians) / min(medians) > 50:
        ax.set_xscale("log")
    for y, r in enumerate(rows):  # the median's value, right of the whisker
        ax.annotate(
            f"{r['median_ms']:.3g} ms",
            (r["p90_ms"], y),
            xytext=(6, -3),
            textcoords="offset points",
            fontsize=8,
        )
    ax.invert_yaxis()
    ax.set_xlabel("steady-state latency, ms (bar: median; whisker: p90)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _breakdown(rows: list[dict[str, Any]], title: str, path: Path) -> None:
    labels = [_label(r) for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 2.6))
    left = [0.0] * len(rows)
    for key, legend in PHASES:
        values = [r[key] or 0.0 for r in rows]
        ax.barh(labels, values, left=left, label=legend)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("ms from runtime start to one steady inference")
    ax.set_title(title)
    height = 0.45 * len(rows) + 2.6
    fig.legend(fontsize=8, loc="lower center", ncol=2)
    fig.tight_layout(rect=(0, 0.9 / height, 1, 1))  # the bottom 0.9 inch for the legend
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _qoe(qoe: dict[str, Any], title: str, path: Path) -> None:
    rows = [s for s in qoe["scenarios"] if s["status"] == OK]
    names = [s["scenario"] for s in rows]
    fig, (fps, frames, delay) = plt.subplots(1, 3, figsize=(13, 0.45 * len(rows) + 2.2), sharey=True)
    fps.barh(names, [s["fps"] for s in rows], color="#2a9d8f")
    fps.set_xlabel("frames per second")
    y = range(len(rows))
    frames.barh(
        [i - 0.2 for i in y], [100 * s["long_frames_16ms"] for s in rows], height=0.4, label="> 16.7 ms"
    )
    frames.barh(
        [i + 0.2 for i in y], [100 * s["long_frames_50ms"] for s in rows], height=0.4, label="> 50 ms"
    )
    frames.set_xlabel("% of frames")
    frames.legend(fontsize=8)
    medians = [s["input_delay_ms"]["median"] or 0.0 for s in rows]
    tails = [(s["input_delay_ms"]["p90"] or 0.0) - m for s, m in zip(rows, medians, strict=True)]
    delay.barh(names, medians, xerr=[[0] * len(rows), tails], color="#e76f51", capsize=3)
    delay.set_xlabel("input delay, ms (median; whisker p90)")
    fps.invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_report(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the plots the report has data for; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = report["model"]["name"]
    rows = [r for r in report["results"] if r["status"] == OK]
    written = []
    if rows:
        written += [out_dir / "latency.png", out_dir / "breakdown.png"]
        _latency(rows, f"{name}: steady-state latency per target", written[0])
        _breakdown(rows, f"{name}: where the time goes", written[1])
    qoe = report.get("qoe")
    if qoe and any(s["status"] == OK for s in qoe["scenarios"]):
        written.append(out_dir / "qoe.png")
        _qoe(qoe, f"{name}: page experience while inference runs back to back", written[-1])
    return written
