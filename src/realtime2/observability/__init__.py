"""Prometheus metrics (`/metrics`) and structured logs with request and session ids."""
