"""cffi build of the native runtime, module `webinfer._webinfer_native`, from csrc/*.c.

setup.py runs it through `cffi_modules`; `python src/webinfer/_native_build.py` builds in place for
development. Kernels pick AVX2/AVX-512 code at run time, so no -march flag: the wheel stays portable.
-fno-trapping-math lets the compiler turn the selects in csrc/wi_math.h into vector blends.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"  # its files, not csrc/wasm/ (the wasm build's own, see scripts/build_wasm.sh)


def api_declarations() -> str:
    """The declarations between the WI_API markers of csrc/webinfer.h, the single source of the API."""
    header = (CSRC / "webinfer.h").read_text()
    match = re.search(r"/\* WI_API_BEGIN \*/(.*?)/\* WI_API_END \*/", header, re.S)
    if match is None:
        raise RuntimeError("csrc/webinfer.h lacks the WI_API_BEGIN/WI_API_END block")
    return match.group(1)


def make_builder(absolute: bool) -> FFI:
    """The cffi builder. setuptools wants source paths relative to setup.py; a direct compile
    (which runs the compiler from its temporary directory) needs absolute ones."""

    def paths(pattern: str) -> list[str]:
        found = sorted(CSRC.glob(pattern))
        return [str(p if absolute else p.relative_to(ROOT)) for p in found]

    ffi = FFI()
    ffi.cdef(api_declarations())
    ffi.set_source(
        "webinfer._webinfer_native",
        '#include "webinfer.h"',
        sources=paths("*.c"),
        depends=paths("*.h"),
        include_dirs=[str(CSRC if absolute else CSRC.relative_to(ROOT))],
        extra_compile_args=["-O3", "-std=c11", "-fno-math-errno", "-fno-trapping-math", "-pthread"],
        extra_link_args=["-pthread"],
    )
    return ffi


ffibuilder = make_builder(absolute=False)

if __name__ == "__main__":
    built = Path(
        make_builder(absolute=True).compile(tmpdir=str(ROOT / "build" / "cffi"), verbose="-v" in sys.argv)
    )
    package = ROOT / "src" / "webinfer"
    for stale in package.glob("_webinfer_native*.so"):  # e.g. the abi3 one of `pip install -e .`
        stale.unlink()
    target = package / built.name
    shutil.copyfile(built, target)
    print(f"built {target.relative_to(ROOT)}")
