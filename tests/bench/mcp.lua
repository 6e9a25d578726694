-- wrk script of tests/bench/gateway.sh: POST /mcp with a gateway token, in either MCP era.
-- BENCH_TOKEN (required), BENCH_ERA = modern | legacy, BENCH_SESSION (legacy: an Mcp-Session-Id).
-- Every target gets this same request; the upstream and nginx simply ignore the MCP headers.
local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
local era = os.getenv("BENCH_ERA") or "modern"

wrk.method = "POST"
wrk.path = "/mcp"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
if era == "legacy" then
  wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
  wrk.headers["Mcp-Session-Id"] = os.getenv("BENCH_SESSION") or error("BENCH_SESSION is not set")
else
  wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
  wrk.headers["Mcp-Method"] = "tools/list"
end

-- One machine-readable line; non-2xx/3xx answers count in errors_status.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
