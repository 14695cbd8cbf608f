"""Backends that call an OpenAI-compatible HTTP server (OpenAI itself, vLLM, this server…)."""
