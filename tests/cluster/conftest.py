"""A real Ray cluster on the loopback address for the cluster tests: a head node started with
``ray start --head --block`` (two CPUs: two model workers), stopped by interrupting that
process, which stops every Ray process it started."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the cluster extra (Ray) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ray_head():
    """``127.0.0.1:PORT`` of a running Ray head with 2 CPUs and a 100 MB object store."""
    port = _free_port()
    temp = Path(tempfile.mkdtemp(prefix="wbray"))  # short: Ray's socket paths have a limit
    exe = Path(sys.executable).with_name("ray")
    # Loopback only, started and stopped here: no token (Ray's default token lives in the
    # user's home folder, shared with any other Ray use there).
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen(
        [str(exe), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
         f"--port={port}", "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false",
         f"--object-store-memory={100 * 2**20}", f"--temp-dir={temp}", "--disable-usage-stats"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:  # ready when the GCS port answers
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                pytest.fail(f"ray start exited with {proc.returncode}:\n{out[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the Ray head did not start within 120 s")
                time.sleep(0.5)
        yield address
    finally:
        # --block: an interrupt makes `ray start` stop the processes it started (1-2 s here;
        # SIGTERM took over 15 s); its own process group only
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(ray_head):
    """A :class:`workbench.cluster.Cluster` joined to the head, two workers."""
    from workbench.cluster import Cluster

    cl = Cluster(ray_head, workers=2, threads=1).open()
    try:
        yield cl
    finally:
        cl.close()


@pytest.fixture(scope="module")
def tiny_hm(tiny_llama_dir):
    from workbench.models.loading import load_language_model

    return load_language_model(tiny_llama_dir, device="cpu", dtype="float32")
