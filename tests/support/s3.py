"""A real S3 API on 127.0.0.1: moto's server (`moto_server`, from PyPI's moto[server]) in a subprocess, one
per test run, and a fresh bucket per test. The archive's S3 adapter talks to it over HTTP through s3fs, as
it would to AWS or MinIO; nothing of Parley is mocked. Its credentials are the standard AWS variables, set
for the test (moto accepts any)."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port

MOTO_SERVER = str(Path(sys.executable).with_name("moto_server"))
START_TIMEOUT_SECONDS = 30.0


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen([MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"moto_server exited with {process.returncode}")
            try:
                httpx.get(url, timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer at {url} within {START_TIMEOUT_SECONDS} s")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "parley-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "parley-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def s3_bucket_url(s3_endpoint: str, aws_credentials: None) -> str:
    """`s3://<a new bucket>/analytics` on the local S3."""
    import boto3

    bucket = f"parley-test-{secrets.token_hex(6)}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/analytics"
