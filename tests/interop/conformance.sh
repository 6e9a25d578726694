#!/usr/bin/env bash
# The official MCP conformance suite's server scenarios, for protocol revisions 2025-11-25 and
# 2026-07-28, against the gateway (in front of the backend). Called by run.sh with:
#   CONFORMANCE  the suite's binary       VG_URL        the LOCAL_AUTH_USER gateway's /mcp URL
#   OUT          where results go         VG_TOKEN_URL  the token-only gateway's /mcp URL
# The suite cannot send an Authorization header, hence the loopback-only LOCAL_AUTH_USER gateway.
# Checks that need fixture tools, prompts or capabilities a notes vault does not have are listed,
# one reason each, in conformance-expected-failures.yml; any other failure, or a listed check
# that passes, fails the run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BASELINE=$HERE/conformance-expected-failures.yml
JSON=(-H 'content-type: application/json' -H 'accept: application/json, text/event-stream')
MODERN=(-H 'mcp-protocol-version: 2026-07-28')

# The fallback user applies only to requests with no credential at all: a bad token is still refused.
status=$(curl -s -o /dev/null -w '%{http_code}' "${JSON[@]}" "${MODERN[@]}" -H 'mcp-method: tools/list' \
  -H 'authorization: Bearer not.a.token' "$VG_URL" -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
[ "$status" = 401 ] || { echo "LOCAL_AUTH_USER gateway accepted a bad token ($status)" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' "${JSON[@]}" "${MODERN[@]}" -H 'mcp-method: tools/list' \
  "$VG_TOKEN_URL" -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
[ "$status" = 401 ] || { echo "the token gateway served a request without a token ($status)" >&2; exit 1; }
echo "ok   a bad token is refused by the LOCAL_AUTH_USER gateway; no token is refused by the normal one"

# One note, so that resources/list and resources/read have something to show the suite.
curl -fsS -o /dev/null "${JSON[@]}" "${MODERN[@]}" -H 'mcp-method: tools/call' -H 'mcp-name: write_note' "$VG_URL" \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"name":"write_note","arguments":{"path":"conformance/readme.md","body":"# Conformance\n\nA note for the suite.\n"}}}'

rc=0
for version in 2025-11-25 2026-07-28; do
  echo "--- conformance --suite all --spec-version $version"
  if ! "$CONFORMANCE" server --url "$VG_URL" --suite all --spec-version "$version" \
    --expected-failures "$BASELINE" -o "$OUT/$version" >"$OUT-$version.log" 2>&1; then
    rc=1
    grep -v '^Running\|^Results saved\|^=== Running' "$OUT-$version.log" | tail -40
  fi
  python3 - "$OUT/$version" "$BASELINE" "$version" <<'PY'
import collections, glob, json, re, sys
out, baseline, version = sys.argv[1:]
listed = set()
for line in open(baseline):
    line = line.split("#", 1)[0].strip()
    if line.startswith("- "):
        listed.add(line[2:].strip())
counts = collections.Counter()
for f in sorted(glob.glob(f"{out}/*/checks.json")):
    scenario = re.sub(r"-\d{4}-\d\d-\d\dT.*$", "", f.split("/")[-2].removeprefix("server-"))
    for c in json.load(open(f)):
        s = c["status"]
        key = f"{scenario}:{c['id']}"
        if s in ("FAILURE", "WARNING"):
            s = "expected-failure" if key in listed or scenario in listed else s
            if s != "expected-failure":
                print(f"unexpected failure: {key}: {c.get('errorMessage', '')}")
        counts[s] += 1
print(f"conformance {version}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
PY
done
exit $rc
