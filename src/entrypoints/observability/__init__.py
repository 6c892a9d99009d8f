"""What operators watch a running Parley with, beyond its logs and /metrics: error reports (sentry)."""
