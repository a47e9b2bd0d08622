"""Kernel backends, listed explicitly (no discovery by file name)."""
