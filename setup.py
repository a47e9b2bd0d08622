"""Builds the native extension; all metadata lives in pyproject.toml.

WEBINFER_PURE=1 leaves the extension out: the pure wheel for Pyodide (scripts/build_wheel.sh), which
runs the same engine on the WebAssembly kernels shipped as package data.
"""

import os

from setuptools import setup

pure = os.environ.get("WEBINFER_PURE") == "1"
setup(cffi_modules=[] if pure else ["src/webinfer/_native_build.py:ffibuilder"])
