"""A real webhook receiver on loopback: an http.server in a thread answering from a script, recording every
request it got (headers with lowercase names, exact body bytes, arrival time)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops parallel connections: SYN retried after a second


@dataclass
class Answer:
    """One scripted reply; block waits on an event (released by the test) before answering."""

    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0
    block: threading.Event | None = None


@dataclass
class Received:
    headers: dict
    body: bytes
    at: float


class Receiver:
    """Answers POSTs with the scripted answers in order, then with default."""

    def __init__(self, answers=(), host: str = "127.0.0.1", default: Answer | None = None):
        self.answers, self.default, self.received = list(answers), default or Answer(), []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body,
                                                      time.time()))
                    answer = receiver.answers.pop(0) if receiver.answers else receiver.default
                if answer.block is not None:
                    answer.block.wait(60)
                time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the worker gave up (timeout) or was killed: nobody is listening

            def log_message(self, *args):
                pass

        self.server = _Server((host, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def ids(self) -> list[str]:
        """Return the webhook-id of every request, in arrival order."""
        return [r.headers.get("webhook-id") for r in self.received]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
