"""WGSL sources: filling the templates in wgsl/ and the per-step prelude (bindings and accessors).

Every tensor of a step is reached through accessors `ld_<name>(i)` / `st_<name>(i, v)` (its element
type) or `ldr_<name>` / `str_<name>` (its raw bits, for data movement). Storage bindings are arrays
of u32 whatever the dtype: tensors of one GPU buffer share ONE binding, because WebGPU forbids
binding a buffer twice in a dispatch that writes it, and an int64 is a pair of u32 (WGSL has no
64-bit integers). A float32 tensor marked `wide` also gets `ld4_<name>(i)`, four elements from i
(a multiple of 4, its offset too) in one 16-byte load; its binding is then an array of vec4<u32>
and the scalar accessors of every tensor in it pick a word out of a vec4. Bytes and halves are
stored with atomics, so neighbours in one word never race.
Where a tensor starts inside its binding comes from the step's uniform (`offsets.<name>`), not from
the source, so steps that differ only in placement share one shader and one pipeline.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..dtypes import DType, info

SCRATCH_BINDING = 13  # split-K's partial products (split.wgsl)
STATUS_BINDING = 14  # run-time errors: [first failing step, then 2 detail words per step]
UNIFORM_BINDING = 15
UNIFORM_SLOT = 256  # bytes of uniform per step (WebGPU's largest minUniformBufferOffsetAlignment)
OK = 0xFFFFFFFF  # status[0] when no step failed

# dtype -> WGSL type of its value, as kernels compute with it
_VALUE_TYPE = {
    DType.FLOAT: "f32",
    DType.FLOAT16: "f32",
    DType.INT32: "i32",
    DType.INT16: "i32",
    DType.INT8: "i32",
    DType.UINT32: "u32",
    DType.UINT16: "u32",
    DType.UINT8: "u32",
    DType.BOOL: "u32",
    DType.INT64: "vec2<u32>",
    DType.UINT64: "vec2<u32>",
    DType.DOUBLE: "vec2<u32>",  # its bits: float64.wgsl converts them
}
_RAW_TYPE = {1: "u32", 2: "u32", 4: "u32", 8: "vec2<u32>"}
# Infinities and NaN from their bits at run time: a constant expression may not evaluate to one
# (the WGSL spec; Tint, the compiler of Chrome and Dawn, enforces it where naga does not).
F32_BITS = "fn f32_bits(bits: u32) -> f32 { return bitcast<f32>(bits); }"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def value_type(dtype: int) -> str:
    """The WGSL type a kernel reads and writes a dtype's elements as."""
    return _VALUE_TYPE[DType(dtype)]


def offset_unit(dtype: int) -> int:
    """Bytes per unit of a tensor's uniform offset: words for 4- and 8-byte types, else bytes."""
    return 4 if info(dtype).itemsize >= 4 else 1


@dataclass(frozen=True)
class Operand:
    """A tensor as a shader sees it: accessor name, dtype, binding slot and whether it is written."""

    name: str
    dtype: int
    slot: int
    written: bool
    raw: bool = False  # accessors move raw bits (ldr_/str_) instead of typed values
    wide: bool = False  # also read as vec4<f32> (ld4_): 16-byte aligned, bound as array<vec4<u32>>


@cache
def template(name: str) -> str:
    return resources.files(__package__).joinpath("wgsl", f"{name}.wgsl").read_text()


def render(name: str, **values: object) -> str:
    """Template `name` with every {{KEY}} replaced; a missing or unused value is a bug, so it raises."""
    text = template(name)
    keys = set(_PLACEHOLDER.findall(text))
    if keys != set(values):
        raise KeyError(
            f"{name}.wgsl: missing {sorted(keys - set(values))}, unused {sorted(set(values) - keys)}"
        )
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def u32(n: int) -> str:
    if not 0 <= n < 2**32:
        raise ValueError(f"{n} does not fit u32")
    return f"{n}u"


def i32(n: int) -> str:
    if not -(2**31) <= n < 2**31:
        raise ValueError(f"{n} does not fit i32")
    return f"{n}i"


def f32(x: float) -> str:
    """An f32 literal of x rounded to float32; infinities and NaN as bit patterns (WGSL has no
    literal) through the prelude's f32_bits."""
    (bits,) = struct.unpack("<I", struct.pack("<f", x))
    if not math.isfinite(x):
        return f"f32_bits({bits:#010x}u)"
    return f"{struct.unpack('<f', struct.pack('<f', x))[0]!r}f"


def _word_access(slot: int, atomic: bool, wide: bool) -> tuple[str, str]:
    """(read, write) formats of word `{w}` of a slot (write value `{v}`)."""
    if atomic:
        return f"atomicLoad(&s{slot}[{{w}}])", f"atomicStore(&s{slot}[{{w}}], {{v}})"
    word = f"s{slot}[({{w}}) >> 2u][({{w}}) & 3u]" if wide else f"s{slot}[{{w}}]"
    return word, f"{word} = {{v}}"


def _accessors(op: Operand, atomic: bool, wide: bool) -> str:
    read, write = _word_access(op.slot, atomic, wide)
    size = info(op.dtype).itemsize
    ty = _RAW_TYPE[size] if op.raw else _VALUE_TYPE[DType(op.dtype)]
    ld, st = ("ldr_", "str_") if op.raw else ("ld_", "st_")
    off = f"offsets.{op.name}"
    lines: list[str] = []
    if size >= 4:
        if size == 8:
            lo, hi = read.format(w="w"), read.format(w="w + 1u")
            get = f"let w = {off} + 2u * i; return vec2<u32>({lo}, {hi});"
            lo, hi = write.format(w="w", v="v.x"), write.format(w="w + 1u", v="v.y")
            put = f"let w = {off} + 2u * i; {lo}; {hi};"
        else:
            bits = read.format(w=f"{off} + i")
            get = f"return {bits if ty == 'u32' else f'bitcast<{ty}>({bits})'};"
            put = write.format(w=f"{off} + i", v="v" if ty == "u32" else "bitcast<u32>(v)") + ";"
    else:
        mask = (1 << (8 * size)) - 1
        word = read.format(w="b >> 2u")
        bits = f"(({word} >> ((b & 3u) * 8u)) & {mask:#x}u)"
        value = {
            "f32": f"unpack2x16float({bits}).x",
            "i32": f"(bitcast<i32>({bits} << {32 - 8 * size}u) >> {32 - 8 * size}u)",
            "u32": bits,
        }[ty]
        get = f"let b = {off} + {size}u * i; return {value};"
        encoded = {"f32": "pack2x16float(vec2<f32>(v, 0.0))", "i32": "bitcast<u32>(v)", "u32": "v"}[ty]
        put = (
            f"let b = {off} + {size}u * i; let s = (b & 3u) * 8u; "
            f"atomicAnd(&s{op.slot}[b >> 2u], ~({mask:#x}u << s)); "
            f"atomicOr(&s{op.slot}[b >> 2u], ({encoded} & {mask:#x}u) << s);"
        )
    lines.append(f"fn {ld}{op.name}(i: u32) -> {ty} {{ {get} }}")
    if op.wide:
        vec4 = f"bitcast<vec4<f32>>(s{op.slot}[({off} + i) >> 2u])"
        lines.append(f"fn ld4_{op.name}(i: u32) -> vec4<f32> {{ return {vec4}; }}")
    if op.written:
        lines.append(f"fn {st}{op.name}(i: u32, v: {ty}) {{ {put} }}")
    return "\n".join(lines)


def prelude(operands: list[Operand], status: bool) -> str:
    """Bindings, the offsets uniform and the accessors of a step's operands (and `fail` if status)."""
    lines = ["struct Offsets {"]
    lines += [f"    {op.name}: u32," for op in operands]
    if status:
        lines.append("    step: u32,")
    lines.append("}")
    lines.append(f"@group(0) @binding({UNIFORM_BINDING}) var<uniform> offsets: Offsets;")
    lines.append(F32_BITS)
    atomic_slots = {op.slot for op in operands if op.written and info(op.dtype).itemsize < 4}
    wide_slots = {op.slot for op in operands if op.wide}
    if atomic_slots & wide_slots:
        raise ValueError("a binding cannot be both atomic and wide")
    for slot in sorted({op.slot for op in operands}):
        writes = any(op.written for op in operands if op.slot == slot)
        element = "atomic<u32>" if slot in atomic_slots else "vec4<u32>" if slot in wide_slots else "u32"
        access = "read_write" if writes else "read"
        lines.append(f"@group(0) @binding({slot}) var<storage, {access}> s{slot}: array<{element}>;")
    if status:
        lines.append(
            f"@group(0) @binding({STATUS_BINDING}) var<storage, read_write> status: array<atomic<u32>>;"
        )
        lines.append(
            "fn fail(lo: u32, hi: u32) {\n    atomicMin(&status[0], offsets.step);\n"
            "    atomicStore(&status[1u + 2u * offsets.step], lo);\n"
            "    atomicStore(&status[2u + 2u * offsets.step], hi);\n}"
        )
    lines += [_accessors(op, op.slot in atomic_slots, op.slot in wide_slots) for op in operands]
    return "\n".join(lines) + "\n"


def uniform_size(operands: list[Operand], status: bool) -> int:
    """Bytes of the Offsets struct (a multiple of 16, as uniform buffers need)."""
    return -(-4 * (len(operands) + status) // 16) * 16


def source(operands: list[Operand], body: str, includes: tuple[str, ...] = (), status: bool = False) -> str:
    """The complete source: prelude, helper templates (wgsl/<include>.wgsl), then the kernel body."""
    return "\n".join([prelude(operands, status), *(template(name) for name in includes), body])
