"""vaultgate through the official Python MCP SDK (`mcp` 2.x), as a real client would use it.

Runs against a gateway in front of a backend, with gateway tokens in `Authorization: Bearer`:
  * legacy mode (initialize, Mcp-Session-Id, notifications, DELETE on exit) and modern mode
    (2026-07-28, negotiated by the SDK's default "auto" mode): list the tools, call every tool
    with valid and invalid arguments, list and read resources, check every answer;
  * three users (alice, bob, carol) who must never see each other's notes, and a session id
    that must not work for another user.

Environment: VG_URL (the gateway's /mcp URL), VG_TOKEN_ALICE, VG_TOKEN_BOB, VG_TOKEN_CAROL.
Exits non-zero on the first failed check; prints one line per passed check.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

URL = os.environ["VG_URL"]
TOKENS = {u: os.environ[f"VG_TOKEN_{u.upper()}"] for u in ("alice", "bob", "carol")}
MODERN = "2026-07-28"
TOOLS = {
    "list_notes",
    "read_note",
    "write_note",
    "edit_note",
    "move_note",
    "delete_note",
    "search_notes",
    "get_backlinks",
    "get_tags",
}
PASSED = 0


def check(cond: bool, what: str, detail: Any = None) -> None:
    """Counts a passed check, or stops the run with what failed and why."""
    global PASSED
    if not cond:
        print(f"FAIL: {what}" + (f": {detail!r}" if detail is not None else ""), flush=True)
        sys.exit(1)
    PASSED += 1
    print(f"ok   {what}", flush=True)


class Recorder:
    """httpx2 event hooks: every request's method, session id and protocol version, and each status."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def on_request(self, request: httpx2.Request) -> None:
        self.requests.append(
            {
                "method": request.method,
                "session": request.headers.get("mcp-session-id"),
                "version": request.headers.get("mcp-protocol-version"),
                "mcp_method": request.headers.get("mcp-method"),
                "body": request.content.decode("utf-8", "replace") if request.method == "POST" else "",
                "status": None,
                "request": request,
            }
        )

    async def on_response(self, response: httpx2.Response) -> None:
        for r in self.requests:
            if r["request"] is response.request:
                r["status"] = response.status_code
                r["minted"] = response.headers.get("mcp-session-id")
                break


def http(user: str, rec: Recorder | None = None) -> httpx2.AsyncClient:
    hooks = {"request": [rec.on_request], "response": [rec.on_response]} if rec else {}
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {TOKENS[user]}"},
        timeout=httpx2.Timeout(30.0),
        event_hooks=hooks,
    )


def structured(result: Any) -> dict[str, Any]:
    """The tool's structured answer (our tools always send one) cross-checked with its text item."""
    data = result.structured_content
    check(isinstance(data, dict), "tool answer carries structuredContent", result)
    text = result.content[0].text if result.content else ""
    if not result.is_error:
        check(json.loads(text) == data, "text content equals structuredContent")
    return data


async def call_ok(c: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    r = await c.call_tool(tool, args)
    check(not r.is_error, f"{tool} succeeds", r.content)
    return structured(r)


async def call_err(c: Client, tool: str, args: dict[str, Any], code: str) -> None:
    r = await c.call_tool(tool, args)
    check(r.is_error is True, f"{tool}({json.dumps(args)[:60]}) is a tool error", r)
    data = structured(r)
    check(data.get("error") == code, f"{tool} error code is {code}", data)


async def exercise(c: Client, era: str) -> None:
    """Lists the tools and calls every one with valid and invalid arguments."""
    listed = await c.list_tools()
    names = {t.name for t in listed.tools}
    check(names == TOOLS, f"[{era}] tools/list names all nine tools", names)
    for t in listed.tools:
        check(t.input_schema.get("type") == "object", f"[{era}] {t.name} has an object input schema")
        check(bool(t.description), f"[{era}] {t.name} is described")

    plan, ideas = f"{era}/plan.md", f"{era}/ideas.md"
    w = await call_ok(c, "write_note", {"path": plan, "body": "# Plan\n\nSee [[Ideas]] and zebracorn.\n", "tags": ["interop"]})
    check(w.get("created") is True and w.get("path") == plan, f"[{era}] write_note creates {plan}", w)
    await call_ok(c, "write_note", {"path": ideas, "body": "---\ntitle: Ideas\n---\nBack to [[Plan]].\n"})
    r = await call_ok(c, "read_note", {"path": plan})
    check(r.get("title") == "Plan" and "zebracorn" in r.get("body", ""), f"[{era}] read_note returns the note", r)
    check("interop" in r.get("tags", []), f"[{era}] read_note returns the tag", r.get("tags"))
    check(isinstance(r.get("hash"), str) and r["hash"], f"[{era}] read_note returns a hash")
    hash1 = r["hash"]

    ls = await call_ok(c, "list_notes", {"folder": era})
    check(sorted(n["path"] for n in ls["notes"]) == [ideas, plan], f"[{era}] list_notes lists the folder", ls)
    s = await call_ok(c, "search_notes", {"query": "zebracorn", "folder": era})
    check([h["path"] for h in s["results"]] == [plan], f"[{era}] search_notes finds the word", s)
    e = await call_ok(c, "edit_note", {"path": plan, "operation": "append", "text": "\nMore.", "if_match": hash1})
    check(e.get("hash") and e["hash"] != hash1, f"[{era}] edit_note changes the hash", e)
    b = await call_ok(c, "get_backlinks", {"path": plan})
    check(ideas in json.dumps(b), f"[{era}] get_backlinks names the linking note", b)
    tg = await call_ok(c, "get_tags", {})
    check(any(t.get("tag") == "interop" for t in tg["tags"]), f"[{era}] get_tags counts the tag", tg)
    moved = f"{era}/ideas-moved.md"
    mv = await call_ok(c, "move_note", {"path": ideas, "new_path": moved})
    check(mv.get("path") == moved, f"[{era}] move_note moves", mv)
    d = await call_ok(c, "delete_note", {"path": moved})
    check(d == {"deleted": moved}, f"[{era}] delete_note deletes", d)

    # Invalid arguments: schema violations, then hostile or stale values.
    await call_err(c, "read_note", {}, "invalid_arguments")
    await call_err(c, "write_note", {"path": plan}, "invalid_arguments")
    await call_err(c, "edit_note", {"path": plan, "operation": "explode", "text": "x"}, "invalid_arguments")
    await call_err(c, "move_note", {"path": plan}, "invalid_arguments")
    await call_err(c, "delete_note", {"path": 7}, "invalid_arguments")
    await call_err(c, "search_notes", {"tags": ["x"]}, "invalid_arguments")
    await call_err(c, "get_backlinks", {"path": None}, "invalid_arguments")
    await call_err(c, "list_notes", {"limit": "many"}, "invalid_arguments")
    for hostile in ["../../etc/passwd.md", "/etc/passwd.md", "a\\b.md", "a/./b.md", "CON.md", "a%2f..%2fb.md"]:
        await call_err(c, "read_note", {"path": hostile}, "invalid_path")
    await call_err(c, "write_note", {"path": "notes/evil.txt", "body": "x"}, "invalid_path")
    await call_err(c, "read_note", {"path": f"{era}/missing.md"}, "not_found")
    await call_err(c, "edit_note", {"path": plan, "operation": "append", "text": "x", "if_match": hash1}, "conflict")
    await call_err(c, "write_note", {"path": plan, "body": "x", "if_match": hash1}, "conflict")
    await call_err(c, "edit_note", {"path": plan, "operation": "replace_text", "text": "y", "find": "absent"}, "bad_request")
    try:
        unknown = await c.call_tool("no_such_tool", {})
        check(False, f"[{era}] an unknown tool is refused", unknown)
    except MCPError as e:
        check(e.code == -32602, f"[{era}] an unknown tool is a JSON-RPC invalid-params error", e.code)

    # Resources: our notes are note:///<path> resources.
    res = await c.list_resources()
    uris = {str(x.uri) for x in res.resources}
    check(f"note:///{plan}" in uris, f"[{era}] resources/list offers the note", uris)
    read = await c.read_resource(f"note:///{plan}")
    text = read.contents[0].text
    check("zebracorn" in text and text.rstrip().endswith("More."), f"[{era}] resources/read returns the text", text)
    missing = f"note:///{era}/missing.md"
    try:
        await c.read_resource(missing)
        check(False, f"[{era}] resources/read of a missing note fails")
    except MCPError as e:
        want = -32602 if era == "modern" else -32002  # SEP-2164 changed the code in 2026-07-28
        check(e.code == want, f"[{era}] a missing resource is error {want}", e.code)
        check((e.data or {}).get("uri") == missing, f"[{era}] the error names the missing URI", e.data)


async def legacy() -> None:
    rec = Recorder()
    async with http("alice", rec) as h:
        async with Client(streamable_http_client(URL, http_client=h), mode="legacy") as c:
            check(c.protocol_version != MODERN, "[legacy] negotiated a handshake-era version", c.protocol_version)
            check(c.server_info is not None and c.server_info.name == "vaultgate-backend", "[legacy] serverInfo")
            await exercise(c, "legacy")
    init = rec.requests[0]
    check('"initialize"' in init["body"] and init["status"] == 200, "[legacy] first request is initialize", init)
    sid = init.get("minted")
    check(bool(sid) and len(sid) >= 16, "[legacy] the gateway minted an Mcp-Session-Id", sid)
    notified = [r for r in rec.requests if "notifications/initialized" in r["body"]]
    check(len(notified) == 1 and notified[0]["status"] == 202, "[legacy] notifications/initialized accepted (202)", notified)
    later = [r for r in rec.requests[1:] if r["method"] == "POST"]
    check(all(r["session"] == sid for r in later), "[legacy] every later POST carries the session id")
    check(all(r["version"] for r in later), "[legacy] every later POST carries MCP-Protocol-Version")
    deletes = [r for r in rec.requests if r["method"] == "DELETE"]
    check(len(deletes) == 1 and deletes[0]["session"] == sid, "[legacy] DELETE on exit with the session id", deletes)
    check(deletes[0]["status"] in (200, 204), "[legacy] DELETE accepted", deletes[0]["status"])
    # The ended session is gone: reusing it must be refused with 404 (the spec's "start again").
    async with http("alice") as h:
        r = await h.post(URL, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=legacy_headers(sid))
        check(r.status_code == 404, "[legacy] a deleted session answers 404", r.status_code)


def legacy_headers(sid: str | None) -> dict[str, str]:
    h = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    if sid:
        h["Mcp-Session-Id"] = sid
    return h


async def modern() -> None:
    rec = Recorder()
    async with http("alice", rec) as h:
        async with Client(streamable_http_client(URL, http_client=h)) as c:
            check(c.protocol_version == MODERN, "[modern] the default mode negotiated 2026-07-28", c.protocol_version)
            await exercise(c, "modern")
    check(not any('"initialize"' in r["body"] for r in rec.requests), "[modern] no initialize was sent")
    check(not any(r["minted"] for r in rec.requests), "[modern] no session id was minted")
    posts = [r for r in rec.requests if r["method"] == "POST"]
    check(all(r["version"] == MODERN and r["mcp_method"] for r in posts), "[modern] every POST carries version and Mcp-Method")
    check(all(r["status"] == 200 for r in posts), "[modern] every POST answered 200", [r["status"] for r in posts])


async def isolation() -> None:
    """Three users write a note at the same path; each sees only their own, in both eras."""
    for user in TOKENS:
        async with http(user) as h, Client(streamable_http_client(URL, http_client=h)) as c:
            await call_ok(c, "write_note", {"path": "shared/secret.md", "body": f"# Secret\n\nonly-{user}-knows\n", "tags": [user]})
    for user, mode in (("alice", "legacy"), ("bob", "auto"), ("carol", "legacy")):
        others = [u for u in TOKENS if u != user]
        async with http(user) as h, Client(streamable_http_client(URL, http_client=h), mode=mode) as c:
            r = await call_ok(c, "read_note", {"path": "shared/secret.md"})
            check(f"only-{user}-knows" in r["body"], f"[isolation/{mode}] {user} reads their own note", r["body"])
            for o in others:
                s = await call_ok(c, "search_notes", {"query": f'"only-{o}-knows"'})
                check(s["results"] == [], f"[isolation/{mode}] {user} cannot find {o}'s words", s)
            tags = {t["tag"] for t in (await call_ok(c, "get_tags", {}))["tags"]}
            check(not tags & set(others), f"[isolation/{mode}] {user} sees none of the others' tags", tags)
            if user != "alice":
                for era in ("legacy", "modern"):
                    await call_err(c, "read_note", {"path": f"{era}/plan.md"}, "not_found")
            res = await c.list_resources()
            text = (await c.read_resource("note:///shared/secret.md")).contents[0].text
            check(f"only-{user}-knows" in text, f"[isolation/{mode}] {user}'s resource is their own", text)
            check(len(res.resources) >= 1, f"[isolation/{mode}] {user} lists resources")
    # A session id belongs to the user who opened it: bob cannot ride alice's session.
    async with http("alice") as ha, http("bob") as hb:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "interop", "version": "1"}},
        }
        r = await ha.post(URL, json=init, headers=legacy_headers(None))
        sid = r.headers.get("mcp-session-id")
        check(r.status_code == 200 and bool(sid), "[isolation] alice opens a legacy session", r.status_code)
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "read_note", "arguments": {"path": "shared/secret.md"}}}
        r = await hb.post(URL, json=call, headers=legacy_headers(sid))
        check(r.status_code == 404 and "only-alice" not in r.text, "[isolation] bob with alice's session id gets 404", r.status_code)
        r = await ha.post(URL, json=call, headers=legacy_headers(sid))
        check(r.status_code == 200 and "only-alice-knows" in r.text, "[isolation] alice's session still works", r.status_code)
        r = await ha.delete(URL, headers=legacy_headers(sid))
        check(r.status_code in (200, 204), "[isolation] alice ends her session", r.status_code)
    # Without a token, or with a forged one, nothing is served.
    async with httpx2.AsyncClient(timeout=10) as anon:
        r = await anon.post(URL, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=legacy_headers(None))
        check(r.status_code == 401 and r.headers.get("www-authenticate", "").startswith("Bearer"), "[auth] no token: 401 with WWW-Authenticate", r.status_code)
        forged = TOKENS["alice"][:-4] + ("AAAA" if not TOKENS["alice"].endswith("AAAA") else "BBBB")
        r = await anon.post(URL, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={**legacy_headers(None), "Authorization": f"Bearer {forged}"})
        check(r.status_code == 401, "[auth] forged signature: 401", r.status_code)


async def main() -> None:
    await legacy()
    await modern()
    await isolation()
    print(f"python-sdk: {PASSED} checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
