"""A JSON-RPC proxy in front of the node that records what a process asks it: a process seen from outside."""
from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RecordingRpc:
    """Forward JSON-RPC over HTTP to upstream, recording each call's (method, params), batched ones included."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.calls: list[tuple[str, list]] = []
        self.batch_sizes: list[int] = []  # of each JSON-RPC batch request (a single call is not a batch)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, method: str, *params) -> int:
        """Return how many calls of method began with params (strings compared without case)."""
        wanted = [_fold(p) for p in params]
        return sum(1 for name, args in list(self.calls)
                   if name == method and [_fold(a) for a in args[:len(wanted)]] == wanted)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        rpc = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as web3's pooled session expects

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = json.loads(body)
                if isinstance(request, list):
                    rpc.batch_sizes.append(len(request))
                for call in request if isinstance(request, list) else [request]:
                    rpc.calls.append((call["method"], call.get("params") or []))
                upstream = urllib.request.Request(rpc.upstream, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(upstream, timeout=30) as answer:
                    payload = answer.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:  # quiet: the test reads calls, not access lines
                pass

        return Forward


def _fold(value):
    return value.lower() if isinstance(value, str) else value
