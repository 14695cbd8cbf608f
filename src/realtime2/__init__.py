"""realtime2: a self-hostable realtime voice API server."""

__version__ = "0.1.0"
