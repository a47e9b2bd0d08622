"""Builds the native extension; all metadata lives in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["src/webinfer/_native_build.py:ffibuilder"])
