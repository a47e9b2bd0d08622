"""The GPU interface over wgpu-py: WebGPU natively (Vulkan, Metal, D3D12; lavapipe on CPUs).

wgpu-py 0.32's `queue.on_submitted_work_done_sync()` is broken, so completion is awaited by mapping
the run's readback buffer, which is needed anyway.
"""

from __future__ import annotations

from typing import Any

from .gpu import GPU, Binding, BufferKind, GPUUnavailable, Limits, Trip, software_renderer

try:
    import wgpu  # type: ignore[import-untyped]
except ImportError as exc:  # reported by open_device(), so the backend says why it is unavailable
    wgpu = None
    _IMPORT_ERROR = f"wgpu is not installed ({exc}); run scripts/setup_webgpu.sh"
else:
    _IMPORT_ERROR = ""

# Limits requested at the adapter's maximum: the defaults (128 MiB bindings, 16 KiB workgroup
# memory) are lower than what most adapters offer.
_RAISED = ("max-storage-buffer-binding-size", "max-buffer-size", "max-compute-workgroup-storage-size")


class WgpuDevice(GPU):
    def __init__(self, adapter: Any) -> None:
        super().__init__()
        info = adapter.info
        self.name = f"{info['device']} / {info['description']} ({info['backend_type']})"
        self.software = info["adapter_type"] == "CPU" or software_renderer(
            info["vendor"], info["architecture"], info["device"], info["description"]
        )
        self._device = adapter.request_device_sync(
            required_limits={name: adapter.limits[name] for name in _RAISED}
        )
        limits = self._device.limits
        self.limits = Limits(
            max_binding_bytes=limits["max-storage-buffer-binding-size"],
            max_buffer_bytes=limits["max-buffer-size"],
            binding_alignment=limits["min-storage-buffer-offset-alignment"],
            uniform_alignment=limits["min-uniform-buffer-offset-alignment"],
            workgroup_bytes=limits["max-compute-workgroup-storage-size"],
            workgroup_invocations=limits["max-compute-invocations-per-workgroup"],
            groups_per_dim=limits["max-compute-workgroups-per-dimension"],
        )
        usage = wgpu.BufferUsage
        self._usages = {
            BufferKind.STORAGE: usage.STORAGE | usage.COPY_DST | usage.COPY_SRC,
            BufferKind.UNIFORM: usage.UNIFORM | usage.COPY_DST,
            BufferKind.READBACK: usage.MAP_READ | usage.COPY_DST,
        }

    def _compile(self, wgsl: str) -> Any:
        try:
            module = self._device.create_shader_module(code=wgsl)
            return self._device.create_compute_pipeline(
                layout="auto", compute={"module": module, "entry_point": "main"}
            )
        except wgpu.GPUError as exc:
            raise ValueError(str(exc)) from exc

    def buffer(self, size: int, kind: BufferKind) -> Any:
        return self._device.create_buffer(size=size, usage=self._usages[kind])

    def write(self, buffer: Any, offset: int, data: bytes | memoryview) -> None:
        self._device.queue.write_buffer(buffer, offset, data)

    def bind_group(self, pipeline: Any, bindings: list[Binding]) -> Any:
        entries = [
            {"binding": b.binding, "resource": {"buffer": b.buffer, "offset": b.offset, "size": b.size}}
            for b in bindings
        ]
        return self._device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=entries)

    def run(self, writes: list[tuple[Any, int, bytes | memoryview]], trip: Trip) -> memoryview:
        for buffer, offset, data in writes:
            self._device.queue.write_buffer(buffer, offset, data)
        encoder = self._device.create_command_encoder()
        if trip.dispatches:
            compute = encoder.begin_compute_pass()
            for d in trip.dispatches:
                compute.set_pipeline(d.pipeline)
                compute.set_bind_group(0, d.bind_group)
                compute.dispatch_workgroups(*d.groups)
            compute.end()
        for c in trip.copies:
            encoder.copy_buffer_to_buffer(c.src, c.src_offset, c.dst, c.dst_offset, c.size)
        self._device.queue.submit([encoder.finish()])
        if not trip.size:
            return memoryview(b"")
        trip.readback.map_sync(wgpu.MapMode.READ, 0, trip.size)
        try:
            return memoryview(bytes(trip.readback.read_mapped(0, trip.size, copy=False)))
        finally:
            trip.readback.unmap()


_DEVICE: WgpuDevice | GPUUnavailable | None = None


def open_device() -> WgpuDevice:
    """The process's device, requested on first use (its failure is remembered too)."""
    global _DEVICE
    if _DEVICE is None:
        try:
            _DEVICE = _request()
        except GPUUnavailable as exc:
            _DEVICE = exc
    if isinstance(_DEVICE, GPUUnavailable):
        raise _DEVICE
    return _DEVICE


def _request() -> WgpuDevice:
    if wgpu is None:
        raise GPUUnavailable(_IMPORT_ERROR)
    try:
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except Exception as exc:  # wgpu-py raises RuntimeError or its own errors, depending on the cause
        raise GPUUnavailable(f"no WebGPU adapter ({exc}); on Linux install mesa-vulkan-drivers") from exc
    if adapter is None:
        raise GPUUnavailable("no WebGPU adapter; on Linux install mesa-vulkan-drivers (lavapipe)")
    return WgpuDevice(adapter)
