"""What operators watch a running Parley with, beyond its logs and /metrics: traces (OpenTelemetry), error
reports (Sentry)."""
