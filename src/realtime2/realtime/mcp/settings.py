"""The operator's MCP settings, read from `REALTIME2_MCP_*` environment variables.

Kept beside the MCP client (as engine settings are beside the engine), documented in
docs/security.md:

- `REALTIME2_MCP_ALLOWED_HOSTS`: the hosts a session's `server_url` may name, comma-separated
  (names or IP literals; `*.example.com` for its subdomains). Default: loopback only; empty
  allows none. Link-local and metadata addresses are refused whatever it says.
- `REALTIME2_MCP_TIMEOUT_S`: one listing or call, connection included (default 10).
- `REALTIME2_MCP_MAX_OUTPUT_BYTES`: a tool's output, or a server's tool list (default 64 KiB).
- `REALTIME2_MCP_MAX_CALLS_PER_RESPONSE`: MCP calls one response may make (default 8).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.realtime.mcp.client import McpClient, McpLimits
from realtime2.realtime.mcp.hosts import DEFAULT_ALLOWED_HOSTS, McpHostPolicy


class McpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME2_MCP_", extra="ignore")

    allowed_hosts: str = DEFAULT_ALLOWED_HOSTS
    timeout_s: float = Field(default=10.0, gt=0)
    max_output_bytes: int = Field(default=64 * 1024, ge=1024)
    max_tools: int = Field(default=128, ge=1)
    max_calls_per_response: int = Field(default=8, ge=1)

    def client(self) -> McpClient:
        return McpClient(
            McpHostPolicy.parse(self.allowed_hosts),
            McpLimits(
                timeout_s=self.timeout_s,
                max_output_bytes=self.max_output_bytes,
                max_tools=self.max_tools,
                max_calls_per_response=self.max_calls_per_response,
            ),
        )
