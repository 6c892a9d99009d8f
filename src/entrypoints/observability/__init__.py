"""What a process sets up to be observed from outside: traces (OpenTelemetry), error reports."""
