"""The pure-Python ONNX loader, cross-checked against the onnx package as the oracle."""

from __future__ import annotations

import contextlib
import math
import random
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import AttributeProto, GraphProto, TensorProto, helper, numpy_helper

from webinfer import dtypes
from webinfer.errors import ModelLoadError
from webinfer.graph import Graph, Model, TensorData, ValueInfo
from webinfer.onnx_reader import MAX_GRAPH_DEPTH, load_model

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = {int(d) for d in dtypes.DType if dtypes.is_known(d)}
A = AttributeProto


# --- oracle comparison ---------------------------------------------------------------------------


def expected_problem(graph: GraphProto) -> str | None:
    """Why webinfer must refuse this graph (non-tensor values, unsupported tensors), or None."""
    if graph.sparse_initializer:
        return "sparse initializer"
    for v in [*graph.input, *graph.output, *graph.value_info]:
        if v.type.WhichOneof("value") not in (None, "tensor_type"):
            return f"value {v.name} is not a tensor"
    tensors = list(graph.initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.ref_attr_name or attr.type in (
                A.SPARSE_TENSOR,
                A.SPARSE_TENSORS,
                A.TYPE_PROTO,
                A.TYPE_PROTOS,
            ):
                return f"attribute {attr.name} unsupported"
            tensors += [attr.t] if attr.type == A.TENSOR else list(attr.tensors)
            for sub in [attr.g] if attr.type == A.GRAPH else attr.graphs:
                problem = expected_problem(sub)
                if problem:
                    return problem
    for t in tensors:
        if t.data_type not in SUPPORTED:
            return f"tensor {t.name} of type {t.data_type}"
    return None


def oracle_value_info(v: onnx.ValueInfoProto) -> tuple[str, int, Any]:
    if not v.type.HasField("tensor_type"):
        return v.name, 0, None
    tt = v.type.tensor_type
    if not tt.HasField("shape"):
        return v.name, tt.elem_type, None
    dims = []
    for d in tt.shape.dim:
        which = d.WhichOneof("value")
        dims.append(d.dim_value if which == "dim_value" else (d.dim_param or None) if which else None)
    return v.name, tt.elem_type, tuple(dims)


def ours_value_info(v: ValueInfo) -> tuple[str, int, Any]:
    return v.name, v.dtype, v.shape


def diff_tensor(proto: TensorProto, ours: Any, where: str) -> list[str]:
    if not isinstance(ours, TensorData):
        return [f"{where}: not a TensorData: {type(ours)}"]
    expected = numpy_helper.to_array(proto)
    if expected.dtype == np.bool_:  # onnx keeps int32_data's 2 as a byte 2; webinfer stores true as 1
        expected = expected.view(np.uint8) != 0
    if (ours.dtype, ours.shape) != (proto.data_type, tuple(proto.dims)):
        return [f"{where}: dtype/shape {ours.dtype}{ours.shape} != {proto.data_type}{tuple(proto.dims)}"]
    if not isinstance(ours.data, memoryview) or ours.data.format != "B":
        return [f"{where}: data is not a byte memoryview"]
    if bytes(ours.data) != np.ascontiguousarray(expected).tobytes():
        return [f"{where}: bytes differ"]
    return []


def floats_equal(a: list[float], b: list[float]) -> bool:
    return struct.pack(f"<{len(a)}f", *a) == struct.pack(f"<{len(b)}f", *b)


def diff_attribute(attr: AttributeProto, value: Any, where: str) -> list[str]:
    t = attr.type
    if t == A.TENSOR:
        return diff_tensor(attr.t, value, where)
    if t == A.GRAPH:
        return diff_graph(attr.g, value, where)
    if t == A.TENSORS:
        if len(value) != len(attr.tensors):
            return [f"{where}: {len(value)} tensors != {len(attr.tensors)}"]
        return [m for i, tp in enumerate(attr.tensors) for m in diff_tensor(tp, value[i], f"{where}[{i}]")]
    if t == A.GRAPHS:
        if len(value) != len(attr.graphs):
            return [f"{where}: {len(value)} graphs != {len(attr.graphs)}"]
        return [m for i, gp in enumerate(attr.graphs) for m in diff_graph(gp, value[i], f"{where}[{i}]")]
    if t == A.FLOAT:
        ok = isinstance(value, float) and floats_equal([value], [attr.f])
    elif t == A.FLOATS:
        ok = isinstance(value, list) and floats_equal(value, list(attr.floats))
    else:
        expected = {
            A.INT: attr.i,
            A.STRING: attr.s.decode(),
            A.INTS: list(attr.ints),
            A.STRINGS: [s.decode() for s in attr.strings],
        }[t]
        ok = type(value) is type(expected) and value == expected
    return [] if ok else [f"{where}: {value!r} != attribute {attr}"]


def diff_graph(proto: GraphProto, ours: Any, where: str) -> list[str]:
    if not isinstance(ours, Graph):
        return [f"{where}: not a Graph: {type(ours)}"]
    out = []
    if ours.name != proto.name:
        out.append(f"{where}: name {ours.name!r} != {proto.name!r}")
    if len(ours.nodes) != len(proto.node):
        return [*out, f"{where}: {len(ours.nodes)} nodes != {len(proto.node)}"]
    for i, (pn, n) in enumerate(zip(proto.node, ours.nodes, strict=True)):
        at = f"{where}/node[{i}]"
        mine = (n.op_type, n.name, n.domain, n.inputs, n.outputs)
        theirs = (pn.op_type, pn.name, pn.domain, list(pn.input), list(pn.output))
        if mine != theirs:
            out.append(f"{at}: {mine} != {theirs}")
        if set(n.attrs) != {a.name for a in pn.attribute}:
            out.append(f"{at}: attribute names {sorted(n.attrs)} != {[a.name for a in pn.attribute]}")
            continue
        for a in pn.attribute:
            out += diff_attribute(a, n.attrs[a.name], f"{at}.{a.name}")
    if set(ours.initializers) != {t.name for t in proto.initializer}:
        out.append(f"{where}: initializer names differ")
    else:
        for t in proto.initializer:
            out += diff_tensor(t, ours.initializers[t.name], f"{where}/initializer {t.name}")
    constants = {t.name for t in proto.initializer}
    expected_io = (
        [oracle_value_info(v) for v in proto.input if v.name not in constants],
        [oracle_value_info(v) for v in proto.output],
        {v.name: oracle_value_info(v) for v in proto.value_info},
    )
    mine_io = (
        [ours_value_info(v) for v in ours.inputs],
        [ours_value_info(v) for v in ours.outputs],
        {k: ours_value_info(v) for k, v in ours.value_info.items()},
    )
    for kind, mine_part, theirs_part in zip(
        ("inputs", "outputs", "value_info"), mine_io, expected_io, strict=True
    ):
        if mine_part != theirs_part:
            out.append(f"{where}: {kind} {mine_part} != {theirs_part}")
    return out


def diff_model(proto: onnx.ModelProto, ours: Model) -> list[str]:
    out = diff_graph(proto.graph, ours.graph, "graph")
    opsets = {o.domain: o.version for o in proto.opset_import}
    if ours.opsets != opsets:
        out.append(f"opsets {ours.opsets} != {opsets}")
    if (ours.ir_version, ours.producer_name) != (proto.ir_version, proto.producer_name):
        out.append(f"ir_version/producer {ours.ir_version, ours.producer_name}")
    return out


def load_or_refuse(data: bytes) -> None:
    """Malformed input may load or raise ModelLoadError; any other exception fails the test."""
    with contextlib.suppress(ModelLoadError):
        load_model(data)


# --- hand-made protobuf encoding, for wire forms the onnx package never writes ---------------------


def varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def fld(number: int, payload: int | bytes, wire_type: int | None = None) -> bytes:
    """Encode one field: ints as varints unless wire_type says 1/5 (then payload is the fixed bytes)."""
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    if wire_type in (1, 5):
        return varint(number << 3 | wire_type) + payload
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def model_with(graph: GraphProto, extra_graph_fields: bytes = b"") -> bytes:
    """A serialized model around `graph`, with raw fields appended to the GraphProto."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    graph_bytes = model.graph.SerializeToString() + extra_graph_fields
    model.ClearField("graph")
    return model.SerializeToString() + fld(7, graph_bytes)


def check_against_oracle(data: bytes) -> Model:
    ours = load_model(data)
    assert diff_model(onnx.ModelProto.FromString(data), ours) == []
    return ours


# --- 1. every ONNX backend node test model -----------------------------------------------------------


def test_backend_node_models_match_onnx():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = [c for c in collect_testcases(None) if c.model is not None]
    assert len(cases) > 1500
    matched = refused = 0
    problems: list[str] = []
    for case in cases:
        reason = expected_problem(case.model.graph)
        try:
            ours = load_model(case.model.SerializeToString())
        except ModelLoadError as e:
            if reason is None:
                problems.append(f"{case.name}: unexpected ModelLoadError: {e}")
            refused += 1
            continue
        if reason is not None:
            problems.append(f"{case.name}: loaded although {reason}")
        diffs = diff_model(case.model, ours)
        problems += [f"{case.name}: {d}" for d in diffs]
        matched += not diffs
    print(f"{len(cases)} backend node models: {matched} match onnx, {refused} refused as expected")
    assert not problems, f"{len(problems)} mismatches, first ones:\n" + "\n".join(problems[:20])


# --- 2. hand-built models --------------------------------------------------------------------------

ARRAYS = {
    TensorProto.FLOAT: np.array([[1.5, -2.25, np.inf], [0.0, -0.0, 3e38]], np.float32),
    TensorProto.DOUBLE: np.array([1e300, -1.5, np.nan], np.float64),
    TensorProto.INT64: np.array([-(2**63), 2**63 - 1, -1, 0], np.int64),
    TensorProto.INT32: np.array([-(2**31), 2**31 - 1, -7], np.int32),
    TensorProto.INT16: np.array([-32768, 32767], np.int16),
    TensorProto.UINT16: np.array([65535, 0], np.uint16),
    TensorProto.INT8: np.array([-128, 127, -1], np.int8),
    TensorProto.UINT8: np.array([[255, 0], [7, 128]], np.uint8),
    TensorProto.BOOL: np.array([True, False, True], np.bool_),
    TensorProto.FLOAT16: np.array([1.5, -65504.0, np.inf], np.float16),
    TensorProto.UINT32: np.array([2**32 - 1, 5], np.uint32),
    TensorProto.UINT64: np.array([2**64 - 1, 5], np.uint64),
}


def all_encodings_graph() -> GraphProto:
    inits = []
    for dt, arr in ARRAYS.items():
        name = dtypes.name(dt)
        inits.append(numpy_helper.from_array(arr, f"{name}_raw"))
        values = arr.view(np.uint16).tolist() if dt == TensorProto.FLOAT16 else arr.flatten().tolist()
        typed = helper.make_tensor(f"{name}_typed", dt, arr.shape, values)
        assert not typed.HasField("raw_data")
        inits.append(typed)
    inits.append(numpy_helper.from_array(np.zeros((0, 3), np.float32), "empty"))
    inits.append(numpy_helper.from_array(np.array(4.0, np.float32), "scalar"))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, "batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    # an initializer listed as an input (older exporters do this): a constant, not an input
    const_input = helper.make_tensor_value_info("float_raw", TensorProto.FLOAT, [2, 3])
    node = helper.make_node("Add", ["x", "float_raw"], ["y"], name="add")
    vi = [
        helper.make_tensor_value_info("s", TensorProto.INT64, []),
        helper.make_tensor_value_info("u", 0, None),
        helper.make_tensor_value_info("e", TensorProto.FLOAT, ["", 2]),  # an empty name is no name
    ]
    return helper.make_graph([node], "encodings", [x, const_input], [y], inits, value_info=vi)


def test_every_tensor_encoding():
    ours = check_against_oracle(model_with(all_encodings_graph()))
    g = ours.graph
    assert [v.name for v in g.inputs] == ["x"]
    assert g.inputs[0].shape == (None, "batch", 3)
    assert g.outputs[0].shape is None
    assert g.value_info["s"].shape == ()
    assert g.value_info["e"].shape == (None, 2)
    assert g.initializers["int8_typed"].tolist() == [-128, 127, -1]
    assert g.initializers["int64_typed"].tolist() == [-(2**63), 2**63 - 1, -1, 0]
    assert g.initializers["bool_typed"].tolist() == [True, False, True]
    assert g.initializers["empty"].shape == (0, 3)
    assert g.initializers["scalar"].shape == ()


def test_raw_data_is_zero_copy():
    data = model_with(all_encodings_graph())
    model = load_model(data)
    assert model.graph.initializers["float_raw"].data.obj is data


def test_every_attribute_type():
    sub = helper.make_graph(
        [helper.make_node("Identity", ["a"], ["b"])],
        "body",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])],
    )
    tensor = numpy_helper.from_array(np.arange(6, dtype=np.int64).reshape(2, 3), "t")
    attrs = {
        "f": 0.1,
        "i": -(2**40),
        "s": "héllo",
        "t": tensor,
        "g": sub,
        "floats": [1.0, -0.5, 1e-3],
        "ints": [-1, 0, 2**62],
        "strings": ["a", "", "ü"],
        "tensors": [tensor, helper.make_tensor("h", TensorProto.FLOAT16, [1], [15360])],
        "graphs": [sub, sub],
        "empty_ints": helper.make_attribute("empty_ints", [], attr_type=A.INTS),
        "zero": 0,
    }
    node = helper.make_node("Custom", ["x", "", "y"], ["z"], name="n", domain="my.domain")
    for key, value in attrs.items():
        node.attribute.append(
            value if isinstance(value, AttributeProto) else helper.make_attribute(key, value)
        )
    graph = helper.make_graph([node], "attrs", [], [])
    ours = check_against_oracle(model_with(graph))
    got = ours.graph.nodes[0]
    assert got.inputs == ["x", "", "y"] and got.domain == "my.domain"
    expected_types = {"f": float, "i": int, "s": str, "t": TensorData, "g": Graph, "floats": list}
    assert {k: type(got.attrs[k]) for k in expected_types} == expected_types
    assert got.attrs["s"] == "héllo" and got.attrs["empty_ints"] == [] and got.attrs["zero"] == 0
    assert isinstance(got.attrs["graphs"][1], Graph)


def test_unpacked_and_split_repeated_fields():
    f32 = struct.Struct("<f")
    tensors = [
        # dims and float_data one element per field (unpacked), as some writers do
        fld(1, 2)
        + fld(1, 1)
        + fld(2, 1)
        + b"".join(fld(4, f32.pack(v), 5) for v in (1.5, -2.0))
        + fld(8, b"f"),
        fld(1, 3) + fld(2, 7) + b"".join(fld(7, v) for v in (-5, 2**62, 0)) + fld(8, b"i64"),
        fld(1, 2)
        + fld(2, 11)
        + fld(10, struct.pack("<d", 0.1), 1)
        + fld(10, struct.pack("<d", -3.0), 1)
        + fld(8, b"d"),
        fld(1, 2) + fld(2, 13) + fld(11, 2**64 - 1) + fld(11, 1) + fld(8, b"u64"),
        # bool from int32_data: any nonzero value is true
        fld(1, 3) + fld(2, 9) + fld(5, varint(2) + varint(0) + varint(1)) + fld(8, b"b"),
        # int32_data split over two packed runs
        fld(1, 3) + fld(2, 3) + fld(5, varint(-3) + varint(4)) + fld(5, varint(-128)) + fld(8, b"i8"),
        fld(1, 2) + fld(2, 1) + fld(4, f32.pack(1.0)) + fld(4, f32.pack(2.0)) + fld(8, b"f_split"),
    ]
    packed_attrs = [
        fld(1, b"ints") + fld(20, A.INTS) + fld(8, varint(-1) + varint(300)),
        fld(1, b"floats") + fld(20, A.FLOATS) + fld(7, f32.pack(0.5) + f32.pack(-1.0)),
    ]
    node = helper.make_node("Custom", [], ["z"]).SerializeToString() + b"".join(
        fld(5, a) for a in packed_attrs
    )
    extra = b"".join(fld(5, t) for t in tensors) + fld(1, node)
    ours = check_against_oracle(model_with(helper.make_graph([], "g", [], []), extra))
    assert ours.graph.initializers["f"].shape == (2, 1)
    assert ours.graph.initializers["i8"].tolist() == [-3, 4, -128]
    assert bytes(ours.graph.initializers["b"].data) == b"\x01\x00\x01"
    assert ours.graph.nodes[0].attrs == {"ints": [-1, 300], "floats": [0.5, -1.0]}


def test_attribute_without_declared_type():
    f32 = struct.Struct("<f")
    untyped = [
        fld(1, b"i") + fld(3, -4),
        fld(1, b"f") + fld(2, f32.pack(0.25), 5),
        fld(1, b"s") + fld(4, b"abc"),
        fld(1, b"ints") + fld(8, 1) + fld(8, 2),
        fld(1, b"strings") + fld(9, b"x") + fld(9, b"y"),
    ]
    node = helper.make_node("Custom", [], ["z"]).SerializeToString() + b"".join(fld(5, a) for a in untyped)
    model = load_model(model_with(helper.make_graph([], "g", [], []), fld(1, node)))
    assert model.graph.nodes[0].attrs == {
        "i": -4,
        "f": 0.25,
        "s": "abc",
        "ints": [1, 2],
        "strings": ["x", "y"],
    }


def external_model(tmp_path: Path) -> Path:
    weights = [numpy_helper.from_array(np.full((64, 32), i, np.float32), f"w{i}") for i in range(3)]
    weights.append(numpy_helper.from_array(np.arange(5, dtype=np.int64), "small"))  # below threshold: inline
    nodes = [helper.make_node("Add", ["w0", "w1"], ["y"])]
    graph = helper.make_graph(
        nodes, "ext", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 32])]
    )
    graph.initializer.extend(weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "model.onnx"
    onnx.save_model(model, path, save_as_external_data=True, location="weights.bin", size_threshold=100)
    return path


def test_external_data(tmp_path):
    path = external_model(tmp_path)
    ours = load_model(path)
    assert diff_model(onnx.load(path), ours) == []
    assert load_model(str(path)).graph.initializers["w2"].tolist()[:2] == [2.0, 2.0]


def test_external_data_from_bytes_is_refused(tmp_path):
    path = external_model(tmp_path)
    with pytest.raises(ModelLoadError, match="file path"):
        load_model(path.read_bytes())


@pytest.mark.parametrize(
    ("location", "match"),
    [
        ("../weights.bin", "leaves the model directory"),
        ("sub/../../weights.bin", "leaves the model directory"),
        ("/etc/passwd", "relative path"),
        ("C:\\weights.bin", "relative path"),
        ("missing.bin", "cannot read external data"),
    ],
)
def test_external_data_bad_location(tmp_path, location, match):
    path = external_model(tmp_path)
    model = onnx.load(path, load_external_data=False)
    for t in model.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save_model(model, path)
    with pytest.raises(ModelLoadError, match=match):
        load_model(path)


@pytest.mark.parametrize(("key", "value"), [("offset", "999999"), ("length", "1000000"), ("offset", "x")])
def test_external_data_bad_range(tmp_path, key, value):
    path = external_model(tmp_path)
    model = onnx.load(path, load_external_data=False)
    entry = next(e for e in model.graph.initializer[0].external_data if e.key == key)
    entry.value = value
    onnx.save_model(model, path)
    with pytest.raises(ModelLoadError, match="external data"):
        load_model(path)


def simple_graph(**kwargs: Any) -> GraphProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    node = helper.make_node("Relu", ["x"], ["y"])
    return helper.make_graph(
        [node], "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], **kwargs
    )


def test_unsupported_constructs_are_refused():
    string_init = helper.make_tensor("names", TensorProto.STRING, [1], [b"a"])
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.ones(1, np.float32), "v"),
        numpy_helper.from_array(np.zeros(1, np.int64), "i"),
        [4],
    )
    cases = {
        "holds strings": simple_graph(initializer=[string_init]),
        "sparse initializer": simple_graph(sparse_initializer=[sparse]),
        "unsupported element type": simple_graph(
            initializer=[helper.make_tensor("b", TensorProto.BFLOAT16, [1], [1.0])]
        ),
    }
    for match, graph in cases.items():
        with pytest.raises(ModelLoadError, match=match):
            load_model(model_with(graph))
    seq = helper.make_tensor_sequence_value_info("seq", TensorProto.FLOAT, None)
    graph = helper.make_graph([], "g", [seq], [])
    with pytest.raises(ModelLoadError, match="value 'seq' has type sequence"):
        load_model(model_with(graph))
    ref = AttributeProto(name="alpha", ref_attr_name="outer_alpha", type=A.FLOAT)
    node = helper.make_node("LeakyRelu", ["x"], ["y"])
    node.attribute.append(ref)
    with pytest.raises(ModelLoadError, match="ref_attr_name"):
        load_model(model_with(helper.make_graph([node], "g", [], [])))


def test_string_values_are_fine_without_string_tensors():
    x = helper.make_tensor_value_info("x", TensorProto.STRING, [3])
    check_against_oracle(model_with(helper.make_graph([], "g", [x], [x])))


def nested_model(depth: int) -> bytes:
    graph = helper.make_graph([], "leaf", [], [])
    for i in range(depth):
        graph = helper.make_graph([helper.make_node("Wrap", [], [f"o{i}"], body=graph)], f"level{i}", [], [])
    return model_with(graph)


def test_subgraph_depth_is_bounded():
    check_against_oracle(nested_model(MAX_GRAPH_DEPTH))
    with pytest.raises(ModelLoadError, match="nested deeper"):
        load_model(nested_model(MAX_GRAPH_DEPTH + 1))


# --- 3. the repository's model zoo, when present -----------------------------------------------------


def test_models_directory():
    paths = sorted((ROOT / ".models").rglob("*.onnx")) if (ROOT / ".models").is_dir() else []
    if not paths:
        pytest.skip(f"no .onnx files under {ROOT / '.models'} (created by the model download script)")
    for path in paths:
        assert diff_model(onnx.load(path), load_model(path)) == [], path
    print(f"{len(paths)} models under .models match onnx")


# --- 4. malformed input ----------------------------------------------------------------------------


def small_model() -> bytes:
    init = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    typed = helper.make_tensor("k", TensorProto.INT64, [2], [-1, 3])
    node = helper.make_node("Gemm", ["x", "w"], ["y"], alpha=0.5, transB=1, name="gemm")
    then = helper.make_graph([helper.make_node("Relu", ["y"], ["z"])], "then", [], [])
    cond = helper.make_node("If", ["c"], ["out"], then_branch=then, else_branch=then)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, None)
    return model_with(helper.make_graph([node, cond], "small", [x], [out], [init, typed]))


def bigger_model() -> bytes:
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    for i in range(60):
        inits.append(numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"m{i}"], name=f"mm{i}"))
        nodes.append(helper.make_node("LeakyRelu", [f"m{i}"], [f"h{i + 1}"], alpha=0.01 * i))
    x = helper.make_tensor_value_info("h0", TensorProto.FLOAT, ["batch", 16])
    y = helper.make_tensor_value_info("h60", TensorProto.FLOAT, ["batch", 16])
    return model_with(helper.make_graph(nodes, "mlp", [x], [y], inits))


def test_empty_and_garbage_input():
    with pytest.raises(ModelLoadError, match="no graph"):
        load_model(b"")
    rng = random.Random(1234)
    for n in [1, 2, 5, 17, 100, 1000, 10000] * 8:
        load_or_refuse(rng.randbytes(n))
    with pytest.raises(ModelLoadError, match="truncated varint"):
        load_model(b"\x3a\x80")


def test_truncated_models():
    small = small_model()
    check_against_oracle(small)
    for cut in range(len(small)):
        load_or_refuse(small[:cut])
    big = bigger_model()
    check_against_oracle(big)
    for cut in range(0, len(big), max(1, len(big) // 200)):
        load_or_refuse(big[:cut])
    with pytest.raises(ModelLoadError, match=r"field 'graph' length \d+ exceeds remaining"):
        load_model(big[:-10])


def test_byte_flips():
    rng = random.Random(42)
    for data in (small_model(), bigger_model()):
        for _ in range(200):
            corrupt = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                corrupt[rng.randrange(len(corrupt))] ^= rng.randint(1, 255)
            load_or_refuse(bytes(corrupt))


def test_text_file_and_missing_path(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("This is not a model.\nJust some text, with an ONNX-like name.\n")
    with pytest.raises(ModelLoadError):
        load_model(text)
    missing = tmp_path / "missing.onnx"
    with pytest.raises(ModelLoadError, match=r"missing\.onnx"):
        load_model(missing)


def test_wrong_tensor_byte_length():
    bad = TensorProto(name="weights", data_type=TensorProto.FLOAT, dims=[2, 2], raw_data=b"\0" * 12)
    with pytest.raises(ModelLoadError, match=r"tensor 'weights'.*12 bytes.*needs 16"):
        load_model(model_with(simple_graph(initializer=[bad])))
    short = TensorProto(name="ints", data_type=TensorProto.INT32, dims=[3], int32_data=[1, 2])
    with pytest.raises(ModelLoadError, match="tensor 'ints'"):
        load_model(model_with(simple_graph(initializer=[short])))


def test_bytearray_and_memoryview_sources():
    data = small_model()
    strided = memoryview(bytes(b for byte in data for b in (byte, 0)))[::2]  # not contiguous: gets copied
    for source in (bytearray(data), memoryview(data), strided):
        assert load_model(source).graph.name == "small"
    assert math.isclose(load_model(data).graph.nodes[0].attrs["alpha"], 0.5)
