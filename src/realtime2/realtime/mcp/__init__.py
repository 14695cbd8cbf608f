"""MCP servers a realtime session may use: which hosts are allowed, and the client."""
