"""Implementations of the engine interfaces: `local` (embedded models) and `openai` (HTTP)."""
