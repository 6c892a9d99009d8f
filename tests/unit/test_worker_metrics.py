"""`parley worker` serves its own metrics on PARLEY_WORKER_METRICS_PORT: the jobs it ran, by topic and outcome."""

from __future__ import annotations

from pathlib import Path

import httpx

from entrypoints.worker.main import serve_metrics
from tests.support.app import memory_container
from tests.support.server import free_port


def test_the_worker_serves_job_durations_on_its_metrics_port(tmp_path: Path) -> None:
    port = free_port()
    container = memory_container(tmp_path, settings={"worker_metrics_port": port, "worker_metrics_host": "127.0.0.1"})
    container.telemetry.job_finished("identity.verification_email", 0.3, ok=True)
    server = serve_metrics(container)
    assert server is not None
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        server.server_close()

    line = 'parley_job_duration_seconds_count{outcome="ok",topic="identity.verification_email"} 1.0'
    assert line in text


def test_without_a_port_the_worker_serves_no_metrics(tmp_path: Path) -> None:
    assert serve_metrics(memory_container(tmp_path)) is None
