"""Image inputs for tests: a data URL shaped like a PNG (its bytes are never decoded)."""

from __future__ import annotations

PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
