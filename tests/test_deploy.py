"""deploy/: nginx (Debian's package) in front of `tillpoint serve`, as documented, keeps answering while 64
slow clients trickle header bytes (gunicorn alone gives each of them a thread and stops answering)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.processes import TILLPOINT, free_ports, wait_for

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SLOW_CLIENTS = 64
ATTACK_SECONDS = 20
BODY = b'{"items": [{"sku": "FOOD-001", "qty": 1}]}'


def nginx_binary() -> str:
    """Return Debian's nginx; CI installs it (.ci/run), so a missing one is a failure, not a skip."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert found, "nginx is not installed: apt-get install -y nginx"
    return found


def render_nginx_conf(prefix: Path, listen: int, upstream: int) -> Path:
    """Write deploy/nginx.conf for a temporary prefix: free ports, files under prefix, no user switch."""
    text = (DEPLOY / "nginx.conf").read_text()
    replacements = {
        "user www-data;\n": "",
        "pid /run/nginx.pid;": f"pid {prefix}/nginx.pid;",
        "error_log /var/log/nginx/error.log warn;": f"error_log {prefix}/error.log warn;",
        "access_log /var/log/nginx/access.log;": "access_log off;",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream};",
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "http {\n": "http {\n" + "".join(f"    {kind}_temp_path {prefix}/{kind};\n"
                                          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new, 1)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return conf


@pytest.fixture
def front(database_url, shop, tmp_path):
    """nginx (a non-daemon child, own prefix) in front of `tillpoint serve`; yields nginx's base URL."""
    nginx_port, app_port = free_ports(2)
    env = {**os.environ, "DATABASE_URL": database_url, "TILLPOINT_ENV": "test", "REDIS_URL": "",
           "TILLPOINT_INSTANCE": str(tmp_path)}
    server = subprocess.Popen([str(TILLPOINT), "serve", "--behind-proxy", "--port", str(app_port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    conf = render_nginx_conf(tmp_path, nginx_port, app_port)
    nginx = subprocess.Popen([nginx_binary(), "-p", str(tmp_path), "-c", str(conf), "-e", "stderr",
                              "-g", "daemon off;"], stderr=subprocess.PIPE, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{nginx_port}"
    try:
        wait_for(lambda: _status(base + "/healthz") == 200, seconds=60, every=0.2)
        yield base
    finally:
        for proc in (nginx, server):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (nginx, server):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _status(url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 5) -> int | None:
    request = urllib.request.Request(url, data=data, headers={"Connection": "close", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def trickle(port: int, until: float, opened: list) -> None:
    """Be a slow client until `until`: open a connection, send a header a byte every half second, and
    reconnect whenever the server gives up on it (as an attacker would)."""
    while time.monotonic() < until:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                opened.append(1)
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                while time.monotonic() < until:
                    conn.sendall(b"X")
                    time.sleep(0.5)
        except OSError:
            time.sleep(0.2)


def test_nginx_in_front_keeps_health_and_orders_answering_within_1_s_through_64_slow_clients(front, shop):
    port = int(front.rsplit(":", 1)[1])
    until = time.monotonic() + ATTACK_SECONDS
    opened: list = []
    attackers = [threading.Thread(target=trickle, args=(port, until, opened), daemon=True)
                 for _ in range(SLOW_CLIENTS)]
    for attacker in attackers:
        attacker.start()
    wait_for(lambda: len(opened) >= SLOW_CLIENTS, seconds=10, every=0.05)
    order = {"Content-Type": "application/json", "Ocp-Apim-Subscription-Key": shop.key}
    answers = []
    while time.monotonic() < until - 1:
        for url, data, headers in ((front + "/healthz", None, {}), (front + "/api/orders", BODY, order)):
            started = time.monotonic()
            status = _status(url, data, headers, timeout=5)
            answers.append((url.rsplit("/", 1)[1], status, time.monotonic() - started))
        time.sleep(0.25)
    for attacker in attackers:
        attacker.join(ATTACK_SECONDS)
    slowest = max(seconds for _, _, seconds in answers)
    print(f"answers {len(answers)} slowest {slowest:.3f} s (goal < 1 s) slow connections opened {len(opened)}")
    assert len(answers) >= 20
    assert {(name, status) for name, status, _ in answers} == {("healthz", 200), ("orders", 200)}
    assert slowest < 1.0


def test_pay_page_events_pass_through_nginx_unbuffered(front, shop):
    port = int(front.rsplit(":", 1)[1])
    order = {"Content-Type": "application/json", "Ocp-Apim-Subscription-Key": shop.key}
    request = urllib.request.Request(front + "/api/orders", data=BODY, headers=order)
    with urllib.request.urlopen(request, timeout=10) as response:
        receipt_id = json.loads(response.read())["receipt"]["receiptId"]
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET /pay/{receipt_id}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        seen = b""
        while b"event: status" not in seen:
            chunk = conn.recv(4096)
            assert chunk, "nginx closed the stream"
            seen += chunk
    assert b"text/event-stream" in seen and time.monotonic() - started < 2, "the first event came at once"
