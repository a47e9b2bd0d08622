"""Command line: `webinfer info MODEL`, `webinfer run MODEL` and `webinfer bench MODEL`."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import dtypes
from .backends import choice
from .bench.targets import TARGETS, parse_targets
from .errors import WebinferError
from .plan import plan_flops
from .session import InferenceSession


def _parse_shapes(items: Sequence[str]) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for item in items:
        name, _, dims = item.partition("=")
        shapes[name] = tuple(int(d) for d in dims.split(",") if d)
    return shapes


def _concrete_shapes(
    session: InferenceSession, given: dict[str, tuple[int, ...]]
) -> dict[str, tuple[int, ...]]:
    """Declared input shapes, symbolic dims taken from --shape or else 1."""
    return {
        arg.name: given.get(arg.name, tuple(d if isinstance(d, int) else 1 for d in arg.shape))
        for arg in session.get_inputs()
    }


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB"


def cmd_info(args: argparse.Namespace) -> None:
    session = InferenceSession(args.model, backend=args.backend, threads=args.threads)
    model = session.model
    graph = model.graph
    print(f"model     {args.model}  (opset {model.opset}, producer '{model.producer_name}')")
    for title, items in (("input ", session.get_inputs()), ("output", session.get_outputs())):
        for arg in items:
            print(f"{title}    {arg.name}: {arg.type} {arg.shape}")
    ops = Counter(node.op_type for node in graph.nodes)
    print(f"ops       {len(graph.nodes)} nodes: " + ", ".join(f"{op} x{n}" for op, n in ops.most_common()))
    params = sum(t.numel for t in graph.initializers.values())
    param_bytes = sum(t.nbytes for t in graph.initializers.values())
    print(f"params    {params:,} values, {_mib(param_bytes)} in initializers")
    shapes = _concrete_shapes(session, _parse_shapes(args.shape))
    plan = session.plan_for_shapes(shapes)
    report = session.memory_report()
    kernels = Counter(step.kernel.name for step in plan.steps)
    gflops = plan_flops(plan) / 1e9
    named = args.backend != "auto"
    print(f"backend   {session.backend}" + (" (named by the caller)" if named else ""))
    # what backend="auto" picks for these shapes: the session's own choice when it was auto
    auto = choice.decide(choice.survey(), gflops) if named else session.backend_choice
    pick, *others = auto.describe()
    print(f"auto      picks {pick}")
    for line in others:
        print(f"            {line}")
    print(
        f"plan      for {shapes}: {len(plan.steps)} steps: "
        + ", ".join(f"{k} x{n}" for k, n in kernels.most_common())
        + f"; {gflops:.3g} GFLOP of GEMM/CONV"
    )
    saving = report.intermediate_bytes / report.arena_bytes if report.arena_bytes else 1.0
    print(
        f"memory    weights {_mib(report.weights_bytes)}; arena peak {_mib(report.arena_bytes)} "
        f"for intermediates totalling {_mib(report.intermediate_bytes)} ({saving:.1f}x shared)"
    )


def _feeds(session: InferenceSession, args: argparse.Namespace) -> dict[str, np.ndarray]:
    given = {}
    for item in args.input:
        name, _, path = item.partition("=")
        given[name] = np.load(path)
    shapes = _concrete_shapes(session, _parse_shapes(args.shape))
    rng = np.random.default_rng(0)
    for arg in session.get_inputs():
        if arg.name in given:
            continue
        if not args.random:
            raise WebinferError(
                f"no value for input '{arg.name}': pass --input {arg.name}=FILE.npy or --random"
            )
        dtype = np.dtype(dtypes.info(dtypes.from_onnx_type(arg.type)).numpy_name)
        shape = shapes[arg.name]
        if dtype.kind == "f":
            given[arg.name] = rng.standard_normal(shape).astype(dtype)
        else:
            given[arg.name] = rng.integers(0, 2, size=shape).astype(dtype)
    return given


def cmd_run(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    session = InferenceSession(args.model, backend=args.backend, threads=args.threads)
    load = time.perf_counter() - t0
    feeds = _feeds(session, args)
    times = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        outputs = session.run(None, feeds)
        times.append(time.perf_counter() - t0)
    print(f"backend {session.backend}; load {load * 1e3:.1f} ms; first run {times[0] * 1e3:.2f} ms", end="")
    if len(times) > 1:
        print(f"; median of {len(times) - 1} more {statistics.median(times[1:]) * 1e3:.2f} ms", end="")
    print()
    for arg, value in zip(session.get_outputs(), outputs, strict=True):
        head = np.array2string(value.reshape(-1)[:6], precision=5)
        print(f"{arg.name}: {value.dtype}{list(value.shape)} first values {head}")
        if args.save:
            np.save(f"{args.save}{arg.name}.npy", value)


def cmd_bench(args: argparse.Namespace) -> None:
    from .bench.runner import BenchOptions, default_threads, run_bench  # development tooling

    try:
        targets = parse_targets(args.targets)
        threads = tuple(int(n) for n in args.threads.split(",")) if args.threads else default_threads()
    except ValueError as exc:
        raise WebinferError(f"bench: {exc}") from None
    options = BenchOptions(
        model=Path(args.model),
        runs=args.runs,
        max_seconds=args.max_seconds,
        threads=threads,
        targets=tuple(targets),
        json_path=args.json,
        plots_dir=args.plots,
        qoe=args.qoe,
        qoe_seconds=args.qoe_seconds,
        wheel=args.wheel,
        chromium_flags=tuple(args.chromium_flag),
    )
    run_bench(options)


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run one model on every available target, side by side")
    p.add_argument("model")
    p.add_argument("--runs", type=int, default=20, help="timed runs after the warm-up run (default 20)")
    p.add_argument("--max-seconds", type=float, default=30.0, help="per target: stop timing early past this")
    p.add_argument("--threads", metavar="N,N", help="thread counts for threaded targets (default: 1,<cores>)")
    p.add_argument(
        "--targets",
        default="all",
        help="'all' or a comma-separated subset of: " + ", ".join(f"{t.name} ({t.what})" for t in TARGETS),
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    p.add_argument("--plots", type=Path, metavar="DIR", help="write PNG plots (matplotlib)")
    p.add_argument("--qoe", action="store_true", help="also measure page experience (frames, input delay)")
    p.add_argument("--qoe-seconds", type=float, default=3.0, help="length of each QoE scenario")
    p.add_argument("--wheel", type=Path, help="pure webinfer wheel (default: newest in wheels/)")
    p.add_argument(
        "--chromium-flag",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra Chromium flag (repeatable)",
    )
    p.set_defaults(func=cmd_bench)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="webinfer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, helptext in (
        ("info", cmd_info, "describe a model and its plan"),
        ("run", cmd_run, "run a model and time it"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("model")
        p.add_argument("--backend", default="auto", help="auto, native, wasm, webgpu or reference")
        p.add_argument("--threads", type=int, default=None)
        p.add_argument(
            "--shape",
            action="append",
            default=[],
            metavar="NAME=D0,D1,...",
            help="concrete shape of an input with symbolic dims",
        )
        p.set_defaults(func=func)
        if name == "run":
            p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy")
            p.add_argument("--random", action="store_true", help="random values for inputs not given")
            p.add_argument("--repeat", type=int, default=1)
            p.add_argument("--save", metavar="PREFIX", help="save outputs as PREFIX<name>.npy")
    add_bench_parser(sub)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except WebinferError as exc:
        print(f"webinfer: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
