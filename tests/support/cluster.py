"""The production shape on one machine: N `parley serve` processes (and a `parley worker`) sharing
PostgreSQL, Redis and RabbitMQ."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import PARLEY, Mailbox, ServerProcess, base_env, start_process, start_server


@dataclass
class Cluster:
    servers: list[ServerProcess]
    mailbox: Mailbox
    env: dict[str, str]
    workdir: Path

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PARLEY, *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.workdir,
            env=self.env,
            timeout=60,
            check=True,
        )


@contextmanager
def running_cluster(
    workdir: Path,
    *,
    postgres_url: str,
    redis_url: str,
    rabbitmq_url: str,
    jobs_queue: str,
    servers: int = 2,
    **extra_env: str,
) -> Iterator[Cluster]:
    env = base_env(
        workdir,
        PARLEY_DATABASE_URL=postgres_url,
        PARLEY_REDIS_URL=redis_url,
        PARLEY_REDIS_PREFIX=f"test-{uuid.uuid4().hex[:8]}:",
        PARLEY_BROKER_URL=rabbitmq_url,
        PARLEY_JOBS_QUEUE=jobs_queue,
        PARLEY_SECRET_KEY="x" * 48,
        PARLEY_TRUSTED_PROXIES="127.0.0.1",
        **extra_env,
    )
    worker, _ = start_process(["worker"], workdir, env, "worker")
    started: list[ServerProcess] = []
    try:
        for index in range(servers):
            started.append(start_server(workdir, env, name=f"server{index}"))
        yield Cluster(started, Mailbox(workdir / "var" / "mail"), env, workdir)
    finally:
        for server in started:
            server.stop()
        worker.terminate()
        worker.wait(timeout=30)
