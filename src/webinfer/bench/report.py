"""The terminal rendering of a report: one table of the measured targets (ratios against
webinfer-native and onnxruntime), then every target that did not run, with its reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .results import ERROR, OK, UNAVAILABLE

Row = dict[str, Any]


def _ms(key: str) -> Callable[[Row], str]:
    return lambda r: "-" if r[key] is None else f"{r[key]:.1f}" if r[key] >= 100 else f"{r[key]:.2f}"


def _ratio(key: str) -> Callable[[Row], str]:
    return lambda r: "-" if r[key] is None else f"{r[key]:.2f}x"


def _threads(r: Row) -> str:
    if r["threads"] is None:
        return "-"
    used = r["threads_used"]
    return str(r["threads"]) if used in (None, r["threads"]) else f"{r['threads']}->{used}"


def _mib(r: Row) -> str:
    return "-" if r["memory_bytes"] is None else f"{r['memory_bytes'] / 2**20:.1f}"


def _accuracy(key: str, fmt: str) -> Callable[[Row], str]:
    return lambda r: format(r["accuracy"][key], fmt) if key in r["accuracy"] else "-"


COLUMNS: list[tuple[str, Callable[[Row], str]]] = [
    ("target", lambda r: r["target"]),
    ("threads", _threads),
    ("backend", lambda r: r["backend"] or "-"),
    ("start ms", _ms("runtime_ms")),
    ("load ms", _ms("load_ms")),
    ("first ms", _ms("first_ms")),
    ("median ms", _ms("median_ms")),
    ("p90 ms", _ms("p90_ms")),
    ("vs native", _ratio("vs_webinfer_native")),
    ("vs ort", _ratio("vs_onnxruntime")),
    ("mem MiB", _mib),
    ("max abs", _accuracy("max_abs", ".1e")),
    ("max rel", _accuracy("max_rel", ".1e")),
]
EVAL_COLUMNS: list[tuple[str, Callable[[Row], str]]] = [
    ("top-1 agree", _accuracy("top1_agreement", ".2%")),
    ("accuracy", _accuracy("accuracy", ".2%")),
]


def table(rows: list[list[str]]) -> list[str]:
    """Left-aligned first column, the rest right-aligned, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def render(report: dict[str, Any]) -> str:
    model, settings = report["model"], report["settings"]
    lines = [
        f"webinfer bench: {model['name']} ({model['size_bytes'] / 1e6:.1f} MB); inputs {model['inputs']} "
        f"from {model['input_source']}",
        f"up to {settings['runs']} timed runs ({settings['max_seconds']:g} s budget, at least 3) after one "
        f"warm-up run; accuracy against {settings['reference']}",
        "",
    ]
    measured = [r for r in report["results"] if r["status"] == OK]
    columns = COLUMNS + (EVAL_COLUMNS if any("top1_agreement" in r["accuracy"] for r in measured) else [])
    if measured:
        lines += table([[h for h, _ in columns]] + [[f(r) for _, f in columns] for r in measured])
    else:
        lines.append("no target could be measured")
    for status, title in ((UNAVAILABLE, "not available"), (ERROR, "failed")):
        rows = [r for r in report["results"] if r["status"] == status]
        if rows:
            lines += ["", f"{title}:"]
            for r in rows:
                threads = f" (threads {r['threads']})" if r["threads"] is not None else ""
                lines.append(f"  {r['target']}{threads}: {r['reason']}")
    return "\n".join(lines)


def render_qoe(qoe: dict[str, Any]) -> str:
    """The page-experience table: frame rate, long frames and input delay per scenario."""
    header = ["scenario", "fps", "frames >16.7ms", "frames >50ms", "input delay med ms", "p90 ms", "max ms",
              "inferences"]  # fmt: skip
    rows, skipped = [header], []
    for s in qoe["scenarios"]:
        if s["status"] != OK:
            skipped.append(f"  {s['scenario']}: {s['reason']}")
            continue
        delay = [
            f"{v:.1f}" if v is not None else "-"
            for v in (s["input_delay_ms"][k] for k in ("median", "p90", "max"))
        ]
        rows.append([
            s["scenario"], f"{s['fps']:.1f}", f"{s['long_frames_16ms']:.1%}", f"{s['long_frames_50ms']:.1%}",
            *delay, str(s["inferences"]),
        ])  # fmt: skip
    gap = qoe["click_gap_s"]
    lines = [
        f"page experience: {qoe['seconds']:.1f} s per scenario, {qoe['threads']} inference thread, clicks "
        f"every {gap[0]}-{gap[1]} s through the DevTools protocol",
        *table(rows),
    ]
    return "\n".join(lines + (["not available:", *skipped] if skipped else []))
