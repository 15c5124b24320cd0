"""`tillpoint serve`: loopback unless behind a proxy, its own control socket, and pay-page streams that never
hold a worker after the tab closed or the server was told to stop."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.processes import TILLPOINT, call, free_ports, wait_for

BODY = {"items": [{"sku": "FOOD-001", "qty": 1}]}


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_serve_refuses_a_non_loopback_address_without_behind_proxy(host):
    refused = subprocess.run([str(TILLPOINT), "serve", "--host", host, "--port", "1"], capture_output=True,
                             text=True, timeout=60, env={**os.environ, "TILLPOINT_ENV": "test"})
    assert refused.returncode == 2
    assert "--behind-proxy" in refused.stderr and "nginx" in refused.stderr


@pytest.fixture
def serve(database_url, tmp_path):
    """Start `tillpoint serve` on a free port (one worker, settings in extra); yield a starter, stop all after."""
    started: list[subprocess.Popen] = []

    def start(port: int, **extra) -> subprocess.Popen:
        env = {**os.environ, "DATABASE_URL": database_url, "TILLPOINT_ENV": "test", "REDIS_URL": "",
               "TILLPOINT_INSTANCE": str(tmp_path), **extra}
        proc = subprocess.Popen([str(TILLPOINT), "serve", "--port", str(port), "--workers", "1"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


pytestmark = pytest.mark.slow


def test_each_server_has_its_own_control_socket_and_stopping_one_keeps_the_others(serve, shop, tmp_path):
    ports = free_ports(2)
    first, second = (serve(port) for port in ports)
    for port in ports:
        call(f"http://127.0.0.1:{port}/api/receipts", shop.key)
    sockets = [tmp_path / f"gunicorn-{port}.ctl" for port in ports]
    assert all(path.exists() for path in sockets)
    first.terminate()
    first.wait(15)
    assert not sockets[0].exists() and sockets[1].exists(), "stopping one server left the other's socket alone"


def open_stream(port: int, receipt_id: str) -> tuple[socket.socket, bytes]:
    """Open /pay/<id>/events and return the socket with the answer's head (status line and headers)."""
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.sendall(f"GET /pay/{receipt_id}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = client.recv(4096)
        assert chunk, "closed before answering"
        head += chunk
    return client, head


def test_a_closed_pay_page_tab_frees_its_stream_slot_at_once(serve, shop):
    [port] = free_ports(1)
    serve(port, PAY_STREAMS="1")
    receipt_id = call(f"http://127.0.0.1:{port}/api/orders", shop.key, BODY)["receipt"]["receiptId"]
    tab, head = open_stream(port, receipt_id)
    assert head.startswith(b"HTTP/1.1 200")
    busy, head = open_stream(port, receipt_id)
    assert head.startswith(b"HTTP/1.1 204"), "one slot, taken"
    busy.close()
    tab.close()
    time.sleep(0.5)
    again, head = open_stream(port, receipt_id)
    again.close()
    assert head.startswith(b"HTTP/1.1 200"), "the closed tab's slot is free again"


def test_ctrl_c_stops_a_server_with_pay_pages_open_within_5_s(serve, shop):
    [port] = free_ports(1)
    server = serve(port, PAY_STREAMS="4")
    receipt_id = call(f"http://127.0.0.1:{port}/api/orders", shop.key, BODY)["receipt"]["receiptId"]
    tabs = [open_stream(port, receipt_id)[0] for _ in range(3)]
    started = time.monotonic()
    os.killpg(server.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole process group
    server.wait(30)
    elapsed = time.monotonic() - started
    for tab in tabs:
        tab.close()
    assert elapsed < 5, f"stopped after {elapsed:.1f} s"
    wait_for(lambda: _group_gone(server.pid), seconds=5)


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_control_socket_path_fits_a_unix_socket_for_a_deep_instance_folder(tmp_path):
    from app.server import UNIX_PATH_MAX, control_socket

    deep = tmp_path / ("d" * 120)
    path = control_socket(str(deep), 8000)
    assert len(path) <= UNIX_PATH_MAX + 40 and Path(path).name.endswith("gunicorn-8000.ctl")
