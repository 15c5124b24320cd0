"""End-to-end fixtures: the whole product as `make demo` runs it (`tillpoint dev`), one per test module."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from tests.helpers.processes import TILLPOINT


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory) -> dict:
    env = {**os.environ, "TILLPOINT_INSTANCE": str(tmp_path_factory.mktemp("instance"))}
    env.pop("DATABASE_URL", None)  # the demo's own SQLite file, as on a fresh machine
    env.pop("REDIS_URL", None)
    return env


@pytest.fixture(scope="module")
def demo(demo_env):
    proc = subprocess.Popen([str(TILLPOINT), "dev", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=demo_env, start_new_session=True)
    found = {}
    for line in proc.stdout:
        if match := re.match(r"(Server|API key): (\S+)", line):
            found[match[1]] = match[2]
        if len(found) == 2:
            break
    yield found
    proc.terminate()  # only the dev process: it must stop everything it started
    proc.wait(timeout=30)
    try:
        for _ in range(100):
            os.killpg(proc.pid, 0)  # raises once no process of the group is left
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("tillpoint dev left processes running after SIGTERM")
    except ProcessLookupError:
        pass
