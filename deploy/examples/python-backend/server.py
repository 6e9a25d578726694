"""A second vaultgate backend, written with the official MCP Python SDK.

It exists to prove the gateway → backend contract (docs/backend-contract.md): every
request but GET /healthz must carry a valid identity assertion, and each user sees only
their own notes. Notes live in memory; this is an example, not a store.

Settings (environment): IDENTITY_SECRET (required, >= 32 bytes), BACKEND_LISTEN
(default 127.0.0.1:8001), ALLOWED_HOSTS (Host values the MCP endpoint accepts,
comma-separated; default 127.0.0.1:*,localhost:*,[::1]:*).
"""

import json
import os
import sys
import threading

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers

from vault_identity import Unauthorized, caller

MAX_NOTE_BYTES = 64 * 1024
MAX_NOTES_PER_USER = 1000


class Notes:
    """Per-user notes in memory: the user id is the first key of every lookup."""

    def __init__(self) -> None:
        self._by_user: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def write(self, user: str, path: str, body: str) -> bool:
        with self._lock:
            notes = self._by_user.setdefault(user, {})
            if path not in notes and len(notes) >= MAX_NOTES_PER_USER:
                raise ToolError("quota_exceeded: too many notes")
            created = path not in notes
            notes[path] = body
            return created

    def read(self, user: str, path: str) -> str | None:
        with self._lock:
            return self._by_user.get(user, {}).get(path)

    def list(self, user: str) -> list[str]:
        with self._lock:
            return sorted(self._by_user.get(user, {}))


def check_path(path: str) -> str:
    if not 1 <= len(path) <= 256 or any(ord(c) < 32 for c in path):
        raise ToolError("invalid_path: a note path is 1-256 printable characters")
    return path


def secret_from_env() -> bytes:
    secret = os.environ.get("IDENTITY_SECRET", "").encode()
    if len(secret) < 32:
        sys.exit("IDENTITY_SECRET must be set to at least 32 bytes (the gateway's value)")
    return secret


SECRET = secret_from_env()
NOTES = Notes()
mcp = MCPServer(name="vaultgate-python-example", version="1.0.0")


def user_of(ctx: Context) -> str:
    """Verifies the assertion again inside the tool: no verified identity, no data."""
    headers = ctx.headers
    if not isinstance(headers, Headers):
        raise ToolError("unauthorized: this request carries no HTTP headers")
    try:
        return caller(headers, SECRET)
    except Unauthorized as e:
        raise ToolError(f"unauthorized: {e}") from None


@mcp.tool()
def write_note(path: str, body: str, ctx: Context) -> dict:
    """Create a note or replace its text."""
    if len(body.encode()) > MAX_NOTE_BYTES:
        raise ToolError("too_large: a note is at most 64 KiB")
    created = NOTES.write(user_of(ctx), check_path(path), body)
    return {"path": path, "created": created}


@mcp.tool()
def read_note(path: str, ctx: Context) -> dict:
    """Read one of your notes."""
    body = NOTES.read(user_of(ctx), check_path(path))
    if body is None:
        raise ToolError("not_found: no such note")
    return {"path": path, "body": body}


@mcp.tool()
def list_notes(ctx: Context) -> dict:
    """List the paths of your notes."""
    return {"notes": [{"path": p} for p in NOTES.list(user_of(ctx))]}


def json_response(status: int, body: dict) -> tuple[dict, dict]:
    """The two ASGI messages of a small JSON answer."""
    data = json.dumps(body).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
    }
    return start, {"type": "http.response.body", "body": data}


class RequireIdentity:
    """ASGI gate in front of everything: GET /healthz is open, every other request needs
    a valid assertion (401 with a JSON body otherwise), whatever its path or method."""

    def __init__(self, app, secret: bytes) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # lifespan: runs the MCP session manager
            return
        if scope["path"] == "/healthz" and scope["method"] == "GET":
            start, body = json_response(200, {"status": "ok"})
        else:
            try:
                caller(Headers(scope=scope), self.secret)
            except Unauthorized as e:
                print(f"identity_rejected: {e}", file=sys.stderr, flush=True)
                start, body = json_response(401, {"error": "unauthorized", "message": str(e)})
            else:
                await self.app(scope, receive, send)
                return
        await send(start)
        await send(body)


def main() -> None:
    host, _, port = os.environ.get("BACKEND_LISTEN", "127.0.0.1:8001").rpartition(":")
    hosts = os.environ.get("ALLOWED_HOSTS", "127.0.0.1:*,localhost:*,[::1]:*")
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[h.strip() for h in hosts.split(",") if h.strip()],
        # The gateway checks Origin against its own list before forwarding.
        allowed_origins=[],
    )
    app = mcp.streamable_http_app(
        stateless_http=True,  # sessions are the gateway's business
        json_response=True,
        transport_security=security,
    )
    uvicorn.run(RequireIdentity(app, SECRET), host=host or "127.0.0.1", port=int(port), log_level="warning")


if __name__ == "__main__":
    main()
