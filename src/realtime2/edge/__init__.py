"""The edge: what every way in (HTTP routes in `http/`, sockets and media in `transports/`)
does before a session or request reaches the core. Authentication of a connection scope
(`auth`), per-user rate limits (`ratelimit`), the Origin rule for cookie logins
(`origins`), session slots and engine readiness (`admission`), a session config checked
up front (`session_config`), SDP offers (`sdp`), socket frames (`frames`) and the one
socket handshake every WebSocket endpoint runs (`handshake.admit_socket`).

Nothing here knows a route: the FastAPI dependency that adapts `auth` to a request stays
in `http/auth.py`, as starlette keeps `authentication.py` below its middleware.
"""
