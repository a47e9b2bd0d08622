"""Graph and kernel-level rewrites that run while a plan is built."""
