"""Observers of every operation: OpenTelemetry traces and Prometheus metrics, each behind its extra."""
