"""RabbitMQ for tests: the real server, a queue name of the test's own, and its removal afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pika
import pytest

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def delete_queues(name: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        for queue in (name, f"{name}.DQ", f"{name}.XQ"):
            channel.queue_delete(queue=queue)
    finally:
        connection.close()


@pytest.fixture
def rabbitmq_url() -> str:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))  # fails loudly if RabbitMQ is down
    connection.close()
    return RABBITMQ_URL


@pytest.fixture
def jobs_queue(rabbitmq_url: str) -> Iterator[str]:
    name = f"parley-test-{uuid.uuid4().hex[:12]}"
    yield name
    delete_queues(name)
