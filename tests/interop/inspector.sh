#!/usr/bin/env bash
# The MCP Inspector CLI against the gateway, with the token in an Authorization header, in both
# protocol eras (--protocol-era legacy: initialize + session; modern: 2026-07-28). The gateway's
# own metrics confirm which era each run really used. Called by run.sh with:
#   INSPECTOR  the inspector binary   VG_URL  the gateway's /mcp URL
#   VG_TOKEN   a gateway token        VG_ADMIN  the gateway's admin host:port (for /metrics)
set -euo pipefail
pass=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
inspect() { # era, then inspector arguments
  local era=$1
  shift
  "$INSPECTOR" --cli "$VG_URL" --transport http --protocol-era "$era" --format json -q "$@"
}
era_count() { # era method: the gateway's count of MCP requests of that era and method
  curl -fsS "http://$VG_ADMIN/metrics" | python3 -c '
import sys
era, method = sys.argv[1:]
want = f"vaultgate_gateway_mcp_requests_total{{era=\"{era}\",method=\"{method}\"}}"
print(sum(int(float(l.rsplit(" ", 1)[1])) for l in sys.stdin if l.startswith(want)))' "$1" "$2"
}
json_check() { # python expression over `r` (the parsed result), description, file
  python3 -c 'import json, sys; r = json.load(open(sys.argv[2])); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" "$3" ||
    fail "$2: $(head -c 400 "$3")"
  ok "$2"
}
AUTH="Authorization: Bearer $VG_TOKEN"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for era in legacy modern; do
  label=$era
  before=$(era_count "$label" tools/call)
  inspect "$era" --header "$AUTH" --method tools/list >"$out/list.json"
  json_check 'sorted(t["name"] for t in r["result"]["tools"]) == sorted(["delete_note","edit_note","get_backlinks","get_tags","list_notes","move_note","read_note","search_notes","write_note"])' \
    "[$era] tools/list names the nine tools" "$out/list.json"
  inspect "$era" --header "$AUTH" --method tools/call --tool-name write_note \
    --tool-args-json "{\"path\":\"inspector/$era.md\",\"body\":\"# Inspector $era\\n\\nwritten by the inspector\\n\"}" >"$out/write.json"
  json_check 'r["result"]["structuredContent"]["path"] == "inspector/'"$era"'.md" and not r["result"].get("isError")' \
    "[$era] tools/call write_note" "$out/write.json"
  inspect "$era" --header "$AUTH" --method tools/call --tool-name read_note --tool-arg "path=inspector/$era.md" >"$out/read.json"
  json_check '"written by the inspector" in r["result"]["structuredContent"]["body"]' "[$era] tools/call read_note reads it back" "$out/read.json"
  inspect "$era" --header "$AUTH" --method tools/call --tool-name read_note --tool-arg "path=../../etc/passwd.md" >"$out/bad.json" 2>/dev/null || true
  json_check 'r["result"]["isError"] is True and r["result"]["structuredContent"]["error"] == "invalid_path"' \
    "[$era] tools/call with a hostile path is a tool error" "$out/bad.json"
  after=$(era_count "$label" tools/call)
  [ "$((after - before))" -ge 3 ] || fail "[$era] the gateway saw $((after - before)) $label tools/call requests, expected >= 3"
  ok "[$era] the gateway counted the calls as $label-era requests ($((after - before)))"
  if inspect "$era" --method tools/list >"$out/anon.out" 2>"$out/anon.err"; then
    fail "[$era] tools/list without the Authorization header succeeded"
  fi
  # A 401 makes the inspector want to start OAuth, which a non-interactive run reports as auth_required.
  grep -qE '"auth_required"|401' "$out/anon.err" ||
    fail "[$era] refused without the header, but not for want of credentials: $(head -c 300 "$out/anon.err")"
  ok "[$era] without the header the inspector is refused (401, auth_required)"
done
[ "$(era_count legacy initialize)" -ge 1 ] || fail "no legacy initialize reached the gateway"
ok "legacy runs sent initialize"
echo "inspector: $pass checks passed"
