"""Reads an ONNX file into webinfer's own graph (webinfer.graph) without the onnx package.

Pure Python on purpose: the same code must run in Pyodide, where neither numpy nor protobuf's
compiled extensions exist. Tensor bytes stay zero-copy views into the model buffer (or into the
external data files), so loading cost is dominated by the number of nodes, not by the weights.
"""

from __future__ import annotations

import math
import os
import re
from array import array
from dataclasses import dataclass, field
from pathlib import PureWindowsPath
from typing import Any

from . import dtypes
from .dtypes import DType
from .errors import ModelLoadError, UnsupportedModelError
from .graph import Graph, Model, Node, TensorData, ValueInfo
from .protobuf import (
    BYTES,
    DOUBLES,
    FLOAT,
    FLOATS,
    INTS,
    LEN,
    SCALAR,
    Schema,
    float32,
    iter_fields,
    signed,
    text,
    varints,
)

MAX_GRAPH_DEPTH = 32  # nesting of subgraphs (If/Loop/Scan bodies); keeps malicious files off the C stack

_MODEL = Schema(
    "ModelProto",
    {1: ("ir_version", SCALAR), 2: ("producer_name", BYTES), 7: ("graph", BYTES), 8: ("opset_import", BYTES)},
)
_OPSET = Schema("OperatorSetIdProto", {1: ("domain", BYTES), 2: ("version", SCALAR)})
_GRAPH = Schema(
    "GraphProto",
    {
        1: ("node", BYTES),
        2: ("name", BYTES),
        5: ("initializer", BYTES),
        11: ("input", BYTES),
        12: ("output", BYTES),
        13: ("value_info", BYTES),
        15: ("sparse_initializer", BYTES),
    },
)
_NODE = Schema(
    "NodeProto",
    {
        1: ("input", BYTES),
        2: ("output", BYTES),
        3: ("name", BYTES),
        4: ("op_type", BYTES),
        5: ("attribute", BYTES),
        7: ("domain", BYTES),
    },
)
_ATTRIBUTE = Schema(
    "AttributeProto",
    {
        1: ("name", BYTES),
        2: ("f", FLOAT),
        3: ("i", SCALAR),
        4: ("s", BYTES),
        5: ("t", BYTES),
        6: ("g", BYTES),
        7: ("floats", FLOATS),
        8: ("ints", INTS),
        9: ("strings", BYTES),
        10: ("tensors", BYTES),
        11: ("graphs", BYTES),
        14: ("tp", BYTES),
        15: ("type_protos", BYTES),
        20: ("type", SCALAR),
        21: ("ref_attr_name", BYTES),
        22: ("sparse_tensor", BYTES),
        23: ("sparse_tensors", BYTES),
    },
)
_TENSOR = Schema(
    "TensorProto",
    {
        1: ("dims", INTS),
        2: ("data_type", SCALAR),
        3: ("segment", BYTES),
        4: ("float_data", FLOATS),
        5: ("int32_data", INTS),
        7: ("int64_data", INTS),
        8: ("name", BYTES),
        9: ("raw_data", BYTES),
        10: ("double_data", DOUBLES),
        11: ("uint64_data", INTS),
        13: ("external_data", BYTES),
        14: ("data_location", SCALAR),
    },
)
_ENTRY = Schema("StringStringEntryProto", {1: ("key", BYTES), 2: ("value", BYTES)})
_VALUE_INFO = Schema("ValueInfoProto", {1: ("name", BYTES), 2: ("type", BYTES)})
_TYPE = Schema(
    "TypeProto",
    {
        1: ("tensor", BYTES),
        4: ("sequence", BYTES),
        5: ("map", BYTES),
        7: ("opaque", BYTES),
        8: ("sparse tensor", BYTES),
        9: ("optional", BYTES),
    },
)
_TENSOR_TYPE = Schema("TypeProto.Tensor", {1: ("elem_type", SCALAR), 2: ("shape", BYTES)})
_SHAPE = Schema("TensorShapeProto", {1: ("dim", BYTES)})
_DIMENSION = Schema("TensorShapeProto.Dimension", {1: ("dim_value", SCALAR), 2: ("dim_param", BYTES)})

# AttributeProto.AttributeType -> (name, the field holding the value), in the order used to guess
# the type of old attributes that do not declare it.
_ATTRIBUTE_TYPES = {
    1: ("FLOAT", "f"),
    2: ("INT", "i"),
    3: ("STRING", "s"),
    4: ("TENSOR", "t"),
    5: ("GRAPH", "g"),
    11: ("SPARSE_TENSOR", "sparse_tensor"),
    13: ("TYPE_PROTO", "tp"),
    6: ("FLOATS", "floats"),
    7: ("INTS", "ints"),
    8: ("STRINGS", "strings"),
    9: ("TENSORS", "tensors"),
    10: ("GRAPHS", "graphs"),
    12: ("SPARSE_TENSORS", "sparse_tensors"),
    14: ("TYPE_PROTOS", "type_protos"),
}
_ZERO = {"FLOAT": 0.0, "INT": 0, "STRING": ""}

# Element type -> (TensorProto field holding its values when raw_data is absent, array typecode to
# pack varint values to the element's width (None: the field already holds little-endian
# fixed-width values), mask that truncates a value to that width (0: none needed)).
_TYPED_FIELDS: dict[int, tuple[str, str | None, int]] = {
    DType.FLOAT: ("float_data", None, 0),
    DType.DOUBLE: ("double_data", None, 0),
    DType.INT64: ("int64_data", "Q", 0),  # varints already are 64-bit two's complement
    DType.UINT64: ("uint64_data", "Q", 0),
    DType.UINT32: ("uint64_data", "I", 0xFFFFFFFF),
    DType.INT32: ("int32_data", "I", 0xFFFFFFFF),
    DType.INT16: ("int32_data", "H", 0xFFFF),
    DType.UINT16: ("int32_data", "H", 0xFFFF),
    DType.FLOAT16: ("int32_data", "H", 0xFFFF),  # the half's bit pattern
    DType.INT8: ("int32_data", "B", 0xFF),
    DType.UINT8: ("int32_data", "B", 0xFF),
    DType.BOOL: ("int32_data", "B", 0),  # any nonzero value is true
}
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


def load_model(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> Model:
    """Parse an ONNX model from a file path or from the serialized bytes.

    Initializers keep referring to the buffer (zero copy), so a bytearray passed in must not be
    modified while the model is in use. External tensor data can only be found from a path.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data: bytes | bytearray | memoryview = source
        base_dir = None
    else:
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ModelLoadError(f"cannot read model file '{path}': {e.strerror or e}") from None
        base_dir = os.path.dirname(os.path.abspath(path))
    view = memoryview(data)
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return _Reader(base_dir).model(view.cast("B"))


@dataclass
class _Reader:
    base_dir: str | None  # directory of the model file; None when loaded from bytes
    files: dict[str, memoryview] = field(default_factory=dict)  # external data files read so far

    def model(self, view: memoryview) -> Model:
        ir_version = 0
        producer = ""
        opsets: dict[str, int] = {}
        graph = None
        for name, _, value, at in iter_fields(view, 0, _MODEL):
            if name == "graph":
                graph = self.graph(value, at, 0)
            elif name == "opset_import":
                domain, version = "", 0
                for key, _, item, item_at in iter_fields(value, at, _OPSET):
                    if key == "domain":
                        domain = text(item, item_at)
                    else:
                        version = signed(item)
                opsets[domain] = version
            elif name == "ir_version":
                ir_version = signed(value)
            else:
                producer = text(value, at)
        if graph is None:
            raise ModelLoadError("not an ONNX model: no graph")
        return Model(graph=graph, opsets=opsets, ir_version=ir_version, producer_name=producer)

    def graph(self, view: memoryview, offset: int, depth: int) -> Graph:
        if depth > MAX_GRAPH_DEPTH:
            raise ModelLoadError(f"subgraphs nested deeper than {MAX_GRAPH_DEPTH} levels at byte {offset}")
        graph = Graph(name="", nodes=[], inputs=[], outputs=[])
        for name, _, value, at in iter_fields(view, offset, _GRAPH):
            if name == "node":
                graph.nodes.append(self.node(value, at, depth))
            elif name == "initializer":
                tensor_name, tensor = self.tensor(value, at)
                if not tensor_name:
                    raise ModelLoadError(f"initializer without a name at byte {at}")
                graph.initializers[tensor_name] = tensor
            elif name == "input":
                graph.inputs.append(self.value_info(value, at))
            elif name == "output":
                graph.outputs.append(self.value_info(value, at))
            elif name == "value_info":
                info = self.value_info(value, at)
                graph.value_info[info.name] = info
            elif name == "name":
                graph.name = text(value, at)
            else:
                raise UnsupportedModelError(
                    f"graph '{graph.name}' has a sparse initializer, which is not supported"
                )
        # Inputs that have an initializer are constants (older exporters list them as inputs too).
        graph.inputs = [v for v in graph.inputs if v.name not in graph.initializers]
        return graph

    def node(self, view: memoryview, offset: int, depth: int) -> Node:
        node = Node(op_type="", name="", inputs=[], outputs=[])
        for name, _, value, at in iter_fields(view, offset, _NODE):
            if name == "input":
                node.inputs.append(text(value, at))
            elif name == "output":
                node.outputs.append(text(value, at))
            elif name == "attribute":
                key, attr = self.attribute(value, at, depth)
                node.attrs[key] = attr
            elif name == "op_type":
                node.op_type = text(value, at)
            elif name == "name":
                node.name = text(value, at)
            else:
                node.domain = text(value, at)
        if not node.op_type:
            raise ModelLoadError(f"node without an op_type at byte {offset}")
        return node

    def attribute(self, view: memoryview, offset: int, depth: int) -> tuple[str, Any]:
        name = ""
        declared = 0
        fields: dict[str, list[tuple[int, Any, int]]] = {}
        for key, wire_type, value, at in iter_fields(view, offset, _ATTRIBUTE):
            if key == "name":
                name = text(value, at)
            elif key == "type":
                declared = value
            else:
                fields.setdefault(key, []).append((wire_type, value, at))
        label = f"attribute '{name}' at byte {offset}"
        if "ref_attr_name" in fields:
            raise UnsupportedModelError(
                f"{label} refers to a function attribute (ref_attr_name), which is not supported"
            )
        if not declared:  # old models leave the type out: take it from the field that is set
            declared = next((t for t, (_, f) in _ATTRIBUTE_TYPES.items() if f in fields), 0)
        if declared not in _ATTRIBUTE_TYPES:
            raise ModelLoadError(f"{label} has unknown or missing type {declared}")
        kind, source = _ATTRIBUTE_TYPES[declared]
        return name, self.attribute_value(kind, fields.get(source, []), label, depth)

    def attribute_value(self, kind: str, items: list[tuple[int, Any, int]], label: str, depth: int) -> Any:
        """Convert the occurrences of the field that holds an attribute's value (per its type)."""
        if kind == "FLOATS":
            floats = array("f")
            for wire_type, value, at in items:
                if wire_type == LEN and len(value) % 4:
                    raise ModelLoadError(f"{label}: packed floats of {len(value)} bytes at byte {at}")
                floats.frombytes(value)
            return floats.tolist()
        if kind == "INTS":
            ints: list[int] = []
            for wire_type, value, at in items:
                ints.extend(varints(value, at) if wire_type == LEN else (value,))
            return [signed(v) for v in ints]
        if kind == "STRINGS":
            return [text(value, at) for _, value, at in items]
        if kind == "TENSORS":
            return [self.tensor(value, at)[1] for _, value, at in items]
        if kind == "GRAPHS":
            return [self.graph(value, at, depth + 1) for _, value, at in items]
        if kind not in ("FLOAT", "INT", "STRING", "TENSOR", "GRAPH"):
            raise UnsupportedModelError(f"{label} has type {kind}, which is not supported")
        if not items:  # writers may omit a zero scalar, but a tensor or graph must be there
            if kind in _ZERO:
                return _ZERO[kind]
            raise ModelLoadError(f"{label} of type {kind} has no value")
        _, value, at = items[-1]  # protobuf: the last occurrence of a singular field wins
        if kind == "FLOAT":
            return float32(value)
        if kind == "INT":
            return signed(value)
        if kind == "STRING":
            return text(value, at)
        if kind == "TENSOR":
            return self.tensor(value, at)[1]
        return self.graph(value, at, depth + 1)

    def tensor(self, view: memoryview, offset: int) -> tuple[str, TensorData]:
        """Parse a TensorProto; returns its name (possibly empty) and its data."""
        name = ""
        dtype = 0
        dims: list[int] = []
        raw = None
        location = 0
        external: dict[str, str] = {}
        typed: dict[str, list[tuple[int, Any, int]]] = {}
        for key, wire_type, value, at in iter_fields(view, offset, _TENSOR):
            if key == "dims":
                dims.extend(varints(value, at) if wire_type == LEN else (value,))
            elif key == "data_type":
                dtype = value
            elif key == "name":
                name = text(value, at)
            elif key == "raw_data":
                raw = value
            elif key == "data_location":
                location = value
            elif key == "external_data":
                entry = {k: text(v, v_at) for k, _, v, v_at in iter_fields(value, at, _ENTRY)}
                external[entry.get("key", "")] = entry.get("value", "")
            elif key == "segment":
                raise UnsupportedModelError(f"tensor at byte {offset} is segmented, which is not supported")
            else:
                typed.setdefault(key, []).append((wire_type, value, at))
        label = f"tensor '{name}' at byte {offset}"
        shape = tuple(signed(d) for d in dims)
        if any(d < 0 for d in shape):
            raise ModelLoadError(f"{label} has negative dimensions {list(shape)}")
        if dtype == DType.STRING:
            raise UnsupportedModelError(f"{label} holds strings, which are not supported")
        if not dtypes.is_known(dtype):
            raise UnsupportedModelError(f"{label} has unsupported element type {dtypes.name(dtype)}")
        if location == _EXTERNAL:
            data = self.external(label, external)
        elif raw is not None:
            data = raw
        else:
            data = _typed_data(label, dtype, typed)
        expected = math.prod(shape) * dtypes.info(dtype).itemsize
        if len(data) != expected:
            raise ModelLoadError(
                f"{label} has {len(data)} bytes of data but shape {list(shape)} of "
                f"{dtypes.name(dtype)} needs {expected}"
            )
        return name, TensorData(dtype=dtype, shape=shape, data=data)

    def external(self, label: str, entries: dict[str, str]) -> memoryview:
        """The bytes of a tensor stored in a file next to the model."""
        if self.base_dir is None:
            raise ModelLoadError(
                f"{label} keeps its data in an external file; load the model from its file path "
                "(not from bytes) so that the file can be found"
            )
        location = entries.get("location", "")
        if not location:
            raise ModelLoadError(f"{label} is external but names no location")
        if location[0] in "/\\" or PureWindowsPath(location).drive:
            raise ModelLoadError(f"{label}: external data location '{location}' must be a relative path")
        if ".." in re.split(r"[/\\]", location):
            raise ModelLoadError(f"{label}: external data location '{location}' leaves the model directory")
        path = os.path.join(self.base_dir, location)
        blob = self.files.get(path)
        if blob is None:
            try:
                with open(path, "rb") as f:
                    blob = memoryview(f.read())
            except OSError as e:
                raise ModelLoadError(
                    f"{label}: cannot read external data '{path}': {e.strerror or e}"
                ) from None
            self.files[path] = blob
        try:
            start = int(entries.get("offset", "0"))
            length = int(entries["length"]) if "length" in entries else len(blob) - start
        except ValueError:
            raise ModelLoadError(f"{label}: external data offset/length are not integers") from None
        if start < 0 or length < 0 or start + length > len(blob):
            raise ModelLoadError(
                f"{label}: external data range offset {start} length {length} exceeds "
                f"'{location}' of {len(blob)} bytes"
            )
        return blob[start : start + length]

    def value_info(self, view: memoryview, offset: int) -> ValueInfo:
        info = ValueInfo(name="", dtype=0, shape=None)
        for key, _, value, at in iter_fields(view, offset, _VALUE_INFO):
            if key == "name":
                info.name = text(value, at)
            else:
                for kind, _, tensor_type, tensor_at in iter_fields(value, at, _TYPE):
                    if kind != "tensor":
                        raise UnsupportedModelError(
                            f"value '{info.name}' has type {kind}; only tensor values are supported"
                        )
                    info.dtype, info.shape = _tensor_type(tensor_type, tensor_at)
        return info


def _tensor_type(view: memoryview, offset: int) -> tuple[int, tuple[int | str | None, ...] | None]:
    """Element type and shape of a TypeProto.Tensor; no shape means the rank is unknown."""
    dtype = 0
    shape: tuple[int | str | None, ...] | None = None
    for key, _, value, at in iter_fields(view, offset, _TENSOR_TYPE):
        if key == "elem_type":
            dtype = value
        else:
            shape = tuple(_dim(dim, dim_at) for _, _, dim, dim_at in iter_fields(value, at, _SHAPE))
    return dtype, shape


def _dim(view: memoryview, offset: int) -> int | str | None:
    """A dimension: its size, its symbolic name, or None when unknown (an empty name counts as none)."""
    dim: int | str | None = None
    for key, _, value, at in iter_fields(view, offset, _DIMENSION):
        dim = signed(value) if key == "dim_value" else (text(value, at) or None)
    return dim


def _typed_data(label: str, dtype: int, typed: dict[str, list[tuple[int, Any, int]]]) -> memoryview:
    """Little-endian bytes of a tensor whose values sit in the typed field for its element type.

    `array` packs in native order, which is little-endian on every host webinfer targets (wasm too).
    """
    source, typecode, mask = _TYPED_FIELDS[dtype]
    items = typed.get(source, [])
    if typecode is None:  # float_data/double_data: their wire bytes already are the tensor bytes
        itemsize = dtypes.info(dtype).itemsize
        for _, value, at in items:
            if len(value) % itemsize:
                raise ModelLoadError(f"{label}: packed {source} of {len(value)} bytes at byte {at}")
        return items[0][1] if len(items) == 1 else memoryview(b"".join(v for _, v, _ in items))
    values: list[int] = []
    for wire_type, value, at in items:
        values.extend(varints(value, at) if wire_type == LEN else (value,))
    if dtype == DType.BOOL:
        values = [1 if v else 0 for v in values]
    elif mask:
        values = [v & mask for v in values]
    return memoryview(array(typecode, values)).cast("B")
