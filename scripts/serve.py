"""Static HTTP server for the repo (demo pages, the Pyodide dist, wheels) on 127.0.0.1.

Why not `python -m http.server`: browsers only grant `crossOriginIsolated` (SharedArrayBuffer, so
wasm threads) to pages sent with COOP/COEP, `WebAssembly.instantiateStreaming` and module scripts
need exact MIME types, and stale cached wheels or .wasm files make test runs lie. `--no-isolation`
drops COOP/COEP to exercise the single-threaded fallback.

    python scripts/serve.py [--port 8000] [--root DIR] [--no-isolation]

Tests import `serve_in_thread` (a free port, a background thread) from this file.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
MIME_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".whl": "application/octet-stream",
    ".json": "application/json",
    ".html": "text/html",
    ".onnx": "application/octet-stream",
}


class Handler(SimpleHTTPRequestHandler):
    """Serves `directory` with the isolation, resource-policy and no-cache headers."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def __init__(self, *args, isolation: bool = True, quiet: bool = False, **kwargs) -> None:
        self.isolation = isolation
        self.quiet = quiet
        super().__init__(*args, **kwargs)

    def end_headers(self) -> None:
        if self.isolation:
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def make_server(
    root: Path | str = ROOT, port: int = 0, *, isolation: bool = True, quiet: bool = False
) -> ThreadingHTTPServer:
    """A bound (not yet serving) server for `root` on 127.0.0.1; port 0 picks a free one."""
    handler = functools.partial(Handler, directory=str(root), isolation=isolation, quiet=quiet)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


@contextlib.contextmanager
def serve_in_thread(root: Path | str = ROOT, *, isolation: bool = True) -> Iterator[str]:
    """Serve `root` on a free port from a background thread; yields the base URL (no trailing /)."""
    server = make_server(root, isolation=isolation, quiet=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--root", type=Path, default=ROOT, help="directory to serve (default: repo root)")
    ap.add_argument("--no-isolation", action="store_true", help="omit COOP/COEP (no crossOriginIsolated)")
    args = ap.parse_args()
    server = make_server(args.root, args.port, isolation=not args.no_isolation)
    mode = "no isolation" if args.no_isolation else "cross-origin isolated"
    print(f"serving {args.root.resolve()} at http://127.0.0.1:{server.server_address[1]}/ ({mode})")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
