"""The small interface every kernel backend implements.

A backend executes whole plans (see plan.py). The session owns graph work and memory planning;
a backend only places the weights once, turns a plan into its executable form once per input
shape, and runs it per inference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..plan import Plan, Step


@dataclass(frozen=True)
class Started:
    """A run begun but maybe not finished. When `wait` is not None (in the browser: a JS function
    returning a promise; see webgpu/js_gpu.py for why not the promise itself) the caller awaits
    `wait()`, from JS or async Python; `finish` takes what it resolved to (None when there was no
    wait) and completes the run."""

    wait: Any
    finish: Callable[[Any], Any]


def _done(_value: Any) -> None:
    return None


class Backend(ABC):
    name: ClassVar[str]

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    @classmethod
    def available(cls) -> str | None:
        """None when usable on this machine, else the reason it is not (shown to the user)."""
        return None

    def unsupported(self, step: Step) -> str | None:
        """None when this backend can run the step, else why not (e.g. a dtype it lacks)."""
        return None

    @abstractmethod
    def set_weights(self, weights: memoryview) -> None:
        """Receive the packed WEIGHTS buffer once per session (copy or keep a reference)."""

    @abstractmethod
    def compile(self, plan: Plan) -> Any:
        """The backend's executable form of a plan; called once per distinct input-shape set."""

    @abstractmethod
    def execute(self, compiled: Any, inputs: list[memoryview], outputs: list[memoryview]) -> None:
        """Run a compiled plan. inputs/outputs are C-contiguous byte buffers in plan order;
        outputs are writable and sized by the plan's output_refs."""

    def start(self, compiled: Any, inputs: list[memoryview], outputs: list[memoryview]) -> Started:
        """`execute` whose one wait on a device is left to the caller: webgpu in the browser, where
        waiting inside Python costs Pyodide's run_sync per run. Backends that compute
        synchronously finish here."""
        self.execute(compiled, inputs, outputs)
        return Started(None, _done)
