"""Drives a vaultgate gateway with the official MCP Python SDK, as two users, and checks
that each sees only their own notes — whichever backend is behind the gateway.

usage: client.py URL TOKEN_A TOKEN_B   (URL = the gateway's MCP endpoint, tokens = gateway JWTs)
Exits non-zero on the first failed check.
"""

import asyncio
import json
import secrets
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

# legacy = 2025-06-18 with an initialize handshake and a gateway session; a version pin = 2026-07-28.
MODES = ["legacy", "2026-07-28"]
EXPECTED_TOOLS = {"write_note", "read_note", "list_notes"}


def text_of(result) -> str:
    """Everything a tool answered, as one string (text blocks and structured content)."""
    parts = [getattr(block, "text", "") for block in result.content]
    if getattr(result, "structured_content", None) is not None:
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)


def check(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


def connect(url: str, token: str, mode: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return Client(streamable_http_client(url, http_client=http), mode=mode)


async def run(url: str, token_a: str, token_b: str, mode: str) -> None:
    path = f"sdk-{secrets.token_hex(6)}.md"
    secret_a, secret_b = f"alpha-{secrets.token_hex(8)}", f"bravo-{secrets.token_hex(8)}"
    async with connect(url, token_a, mode) as alice, connect(url, token_b, mode) as bob:
        tools = {t.name for t in (await alice.list_tools()).tools}
        check(EXPECTED_TOOLS <= tools, f"[{mode}] tools/list offers {sorted(EXPECTED_TOOLS)} (got {sorted(tools)})")
        w = await alice.call_tool("write_note", {"path": path, "body": secret_a})
        check(not w.is_error, f"[{mode}] A writes {path}")
        r = await alice.call_tool("read_note", {"path": path})
        check(not r.is_error and secret_a in text_of(r), f"[{mode}] A reads its note back")
        r = await bob.call_tool("read_note", {"path": path})
        check(r.is_error and secret_a not in text_of(r), f"[{mode}] B cannot read A's note")
        listing = text_of(await bob.call_tool("list_notes", {}))
        check(path not in listing, f"[{mode}] B's list does not show A's note")
        w = await bob.call_tool("write_note", {"path": path, "body": secret_b})
        check(not w.is_error, f"[{mode}] B writes the same path")
        ra, rb = (await alice.call_tool("read_note", {"path": path}), await bob.call_tool("read_note", {"path": path}))
        check(secret_a in text_of(ra) and secret_b not in text_of(ra), f"[{mode}] A still sees only its own text")
        check(secret_b in text_of(rb) and secret_a not in text_of(rb), f"[{mode}] B sees only its own text")


async def refused_without_token(url: str) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        r = await http.post(
            url,
            headers={"Accept": "application/json, text/event-stream", "Content-Type": "application/json"},
            content=b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
        )
    check(r.status_code == 401, f"no token: the gateway answers 401 (got {r.status_code})")


async def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    url, token_a, token_b = sys.argv[1:]
    await refused_without_token(url)
    for mode in MODES:
        await run(url, token_a, token_b, mode)


if __name__ == "__main__":
    asyncio.run(main())
