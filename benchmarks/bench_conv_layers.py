"""Per-layer CONV latency: webinfer's native kernel against onnxruntime on a one-node model.

Every distinct CONV step of the chosen models (shape, params) runs alone: webinfer as a plan that
repeats the step (weights in WEIGHTS, so they are prepacked as in a session), onnxruntime as a
Conv (+ Add) (+ Relu / Clip) model of the same shape, which its optimiser fuses like ours.
Best-of-7 times in microseconds; `count` is how often the shape occurs in the model.

    python benchmarks/bench_conv_layers.py [--models resnet18,mobilenetv2] [--threads 1] [--isa avx512]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import webinfer
from webinfer import dtypes
from webinfer.backends.native import NativeBackend
from webinfer.kernels import Act, Kernel
from webinfer.plan import FIRST_IO, WEIGHTS, Plan, Step, TensorRef
from webinfer.testing import ensure_models, load_samples, model_path

ROOT = Path(__file__).resolve().parents[1]
THREADS = 1
F32 = int(dtypes.from_numpy_name("float32"))


def conv_steps(models_dir: Path, name: str) -> list[tuple[Step, int]]:
    session = webinfer.InferenceSession(str(model_path(models_dir, name)), backend="reference")
    feeds = load_samples(models_dir, name)[0].feeds
    plan = session.plan_for_shapes({k: v.shape for k, v in feeds.items()})
    seen: dict[tuple, list] = {}
    for step in plan.steps:
        if step.kernel == Kernel.CONV:
            key = (tuple(t.shape for t in step.tensors), step.params)
            seen.setdefault(key, [step, 0])[1] += 1
    return [(s, n) for s, n in seen.values()]


def time_it(fn, min_time: float = 0.3, reps: int = 7) -> float:
    """Best of `reps` batches, in the calling thread's CPU time: other work shares this machine, and
    CPU time leaves out the slices it takes (1 thread only: pool workers' time is not counted)."""
    clock = time.thread_time if THREADS == 1 else time.perf_counter
    fn()
    n, t = 1, 0.0
    while True:
        t0 = clock()
        for _ in range(n):
            fn()
        t = clock() - t0
        if t > min_time / reps:
            break
        n *= 2
    samples = []
    for _ in range(reps):
        t0 = clock()
        for _ in range(n):
            fn()
        samples.append((clock() - t0) / n)
    return min(samples)


def webinfer_us(step: Step, threads: int, isa: str | None, repeat: int = 8) -> float:
    rng = np.random.default_rng(0)
    p = step.params
    arrays = [rng.standard_normal(t.shape).astype(np.float32) for t in step.tensors[:-1]]
    in_weights = {1} | ({2} if p.has_bias else set())
    blob, feeds, refs = bytearray(), [], []
    for i, a in enumerate(arrays):
        if i in in_weights:
            blob += bytes(-len(blob) % 64)
            refs.append(TensorRef(WEIGHTS, len(blob), F32, a.shape))
            blob += a.tobytes()
        else:
            refs.append(TensorRef(FIRST_IO + len(feeds), 0, F32, a.shape))
            feeds.append(a)
    out = np.empty(step.tensors[-1].shape, np.float32)
    out_ref = TensorRef(FIRST_IO + len(feeds), 0, F32, out.shape)
    steps = [Step(Kernel.CONV, (*refs, out_ref), p)] * repeat
    names = [f"t{i}" for i in range(len(feeds) + 1)]
    in_refs = [r for r in refs if r.buffer != WEIGHTS]
    plan = Plan(steps, 0, b"", names[:-1], names[-1:], in_refs, [out_ref])
    be = NativeBackend(threads, isa=isa)
    be.set_weights(memoryview(bytes(blob)))
    compiled = be.compile(plan)
    views = [memoryview(x) for x in feeds]
    return time_it(lambda: be.execute(compiled, views, [memoryview(out)])) / repeat * 1e6


def ort_us(step: Step, threads: int) -> float:
    p = step.params
    x_shape, w_shape, y_shape = step.tensors[0].shape, step.tensors[1].shape, step.tensors[-1].shape
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(w_shape).astype(np.float32), "w")]
    conv_in = ["x", "w"]
    if p.has_bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(w_shape[0]).astype(np.float32), "b"))
        conv_in.append("b")
    attrs = dict(
        group=p.group,
        kernel_shape=list(p.kernel),
        strides=list(p.strides),
        pads=list(p.pads),
        dilations=list(p.dilations),
    )
    nodes = [helper.make_node("Conv", conv_in, ["c"], **attrs)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)]
    last = "c"
    if p.has_residual:
        inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, y_shape))
        nodes.append(helper.make_node("Add", [last, "r"], ["s"]))
        last = "s"
    if p.act == Act.RELU:
        nodes.append(helper.make_node("Relu", [last], ["a"]))
        last = "a"
    elif p.act == Act.CLIP:
        inits += [
            numpy_helper.from_array(np.float32(p.act_alpha), "lo"),
            numpy_helper.from_array(np.float32(p.act_beta), "hi"),
        ]
        nodes.append(helper.make_node("Clip", [last, "lo", "hi"], ["a"]))
        last = "a"
    nodes.append(helper.make_node("Identity", [last], ["y"]))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)]
    graph = helper.make_graph(nodes, "conv", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {"x": rng.standard_normal(x_shape).astype(np.float32)}
    if p.has_residual:
        feeds["r"] = rng.standard_normal(y_shape).astype(np.float32)
    return time_it(lambda: sess.run(None, feeds)) * 1e6


def describe(step: Step) -> str:
    p = step.params
    x, w = step.tensors[0].shape, step.tensors[1].shape
    kind = "dw" if p.group > 1 and p.group == x[1] == w[0] else (f"g{p.group}" if p.group > 1 else "")
    extra = (
        ("+b" if p.has_bias else "")
        + ("+r" if p.has_residual else "")
        + (f"+{Act(p.act).name}" if p.act else "")
    )
    return f"{x[1]:>4}->{w[0]:<4} {x[2]:>3}x{x[3]:<3} k{p.kernel[0]}s{p.strides[0]} {kind:<3}{extra}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="resnet18,mobilenetv2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--isa", default=None)
    parser.add_argument("--no-ort", action="store_true")
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads
    models_dir = ensure_models(ROOT)
    for name in args.models.split(","):
        print(f"== {name} (threads {args.threads})")
        print(f"{'layer':<44}{'n':>3}{'ours us':>10}{'ort us':>10}{'ratio':>7}{'GF/s':>7}")
        tot_ours = tot_ort = 0.0
        for step, count in conv_steps(models_dir, name):
            ours = webinfer_us(step, args.threads, args.isa)
            theirs = float("nan") if args.no_ort else ort_us(step, args.threads)
            y, w = step.tensors[-1].shape, step.tensors[1].shape
            flops = 2 * y[1] * y[2] * y[3] * w[1] * w[2] * w[3]
            tot_ours += ours * count
            tot_ort += theirs * count
            print(
                f"{describe(step):<44}{count:>3}{ours:>10.1f}{theirs:>10.1f}{ours / theirs:>7.2f}"
                f"{flops / ours / 1e3:>7.1f}"
            )
        print(f"{'total (x count)':<47}{tot_ours:>10.0f}{tot_ort:>10.0f}{tot_ours / tot_ort:>7.2f}")


if __name__ == "__main__":
    main()
