"""Fixtures shared by every tier live in tests/support/, one module per service, registered here."""

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.redis",
    "tests.support.smtp",
    "tests.support.rabbitmq",
    "tests.support.fake_openai",
    "tests.support.fake_anthropic",
    "tests.support.fake_stripe",
    "tests.support.s3",
]
