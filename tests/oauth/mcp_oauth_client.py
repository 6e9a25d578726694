"""An MCP client that starts with nothing but the server URL and signs in by itself.

The official MCP Python SDK's OAuth support discovers the gateway's protected-resource
metadata (RFC 9728) from the 401 challenge, the authorization server's metadata (RFC 8414),
registers itself (RFC 7591), runs the authorization-code flow with PKCE, and calls /mcp with
the token it gets. The "browser" step is automated: the fake authorization server approves at
once, so following its redirect by hand yields the code. Run by tests/tests/mcp_oauth.rs.

Usage: python mcp_oauth_client.py MCP_URL NOTE_PATH NOTE_BODY
Prints one JSON line: the tools, and the note paths this user sees after writing NOTE_PATH.
"""

import asyncio
import json
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT_URI = "http://127.0.0.1:9/callback"  # loopback; never listened on, the code is read from the redirect


class MemoryStorage:
    """Keeps the registration and tokens for this run only."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


async def main(url: str, note_path: str, note_body: str) -> None:
    redirected: dict[str, str] = {}

    async def open_browser(authorization_url: str) -> None:
        # What a person's browser would do: visit the authorization URL, get redirected back.
        async with httpx2.AsyncClient(follow_redirects=False) as http:
            r = await http.get(authorization_url)
        if r.status_code != 302:
            raise RuntimeError(f"authorization step answered {r.status_code}: {r.text}")
        redirected["location"] = r.headers["location"]

    async def receive_callback() -> AuthorizationCodeResult:
        q = parse_qs(urlparse(redirected["location"]).query)
        if "code" not in q:
            raise RuntimeError(f"no code in the redirect: {redirected['location']}")
        return AuthorizationCodeResult(code=q["code"][0], state=q.get("state", [None])[0])

    auth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="vaultgate OAuth test client",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=MemoryStorage(),
        redirect_handler=open_browser,
        callback_handler=receive_callback,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            tools = sorted(t.name for t in (await client.list_tools()).tools)
            written = await client.call_tool("write_note", {"path": note_path, "body": note_body})
            if written.is_error:
                raise RuntimeError(f"write_note failed: {written.content}")
            listed = await client.call_tool("list_notes", {})
            if listed.is_error:
                raise RuntimeError(f"list_notes failed: {listed.content}")
            notes = listed.structured_content or {}
    paths = sorted(n["path"] for n in notes.get("notes", []))
    print(json.dumps({"tools": tools, "paths": paths, "registered": auth.context.client_info is not None}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
