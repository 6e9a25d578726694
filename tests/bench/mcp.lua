-- wrk script of tests/bench/gateway.sh and tests/bench/run.sh: POST /mcp in either MCP era.
--
-- Who the caller is (BENCH_AUTH):
--   bearer   (default) Authorization: Bearer BENCH_TOKEN — through the gateway or HAProxy-JWT;
--   identity X-Vault-Identity: BENCH_IDENTITY and X-Vault-User: BENCH_USER — straight to a backend;
--   none     no credentials (basic-memory, which has no authentication of its own).
-- Which era (BENCH_ERA): modern (2026-07-28: Mcp-Method / Mcp-Name headers, _meta in params) or
--   legacy (BENCH_PROTOCOL, default 2025-06-18, with Mcp-Session-Id: BENCH_SESSION when set).
-- What (BENCH_TOOL): unset → tools/list (the fixed request of gateway.sh); a tool name → tools/call
--   of that tool, its arguments built per request from the lines of BENCH_ARGS_FILE in turn:
--   {"<BENCH_ARG>": "<line>", <BENCH_EXTRA>} (BENCH_EXTRA: extra JSON members, e.g. "limit":10).
-- A 200 whose JSON-RPC body is an error or a tool result with isError counts in errors_mcp.
local auth = os.getenv("BENCH_AUTH") or "bearer"
local era = os.getenv("BENCH_ERA") or "modern"
local tool = os.getenv("BENCH_TOOL")

wrk.method = "POST"
wrk.path = "/mcp"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
if auth == "bearer" then
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set"))
elseif auth == "identity" then
  wrk.headers["X-Vault-Identity"] = os.getenv("BENCH_IDENTITY") or error("BENCH_IDENTITY is not set")
  wrk.headers["X-Vault-User"] = os.getenv("BENCH_USER") or error("BENCH_USER is not set")
elseif auth ~= "none" then
  error("BENCH_AUTH must be bearer, identity or none")
end
local method = tool and "tools/call" or "tools/list"
local meta = ""
if era == "legacy" then
  wrk.headers["MCP-Protocol-Version"] = os.getenv("BENCH_PROTOCOL") or "2025-06-18"
  local session = os.getenv("BENCH_SESSION")
  if session and session ~= "" then wrk.headers["Mcp-Session-Id"] = session end
else
  wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
  wrk.headers["Mcp-Method"] = method
  if tool then wrk.headers["Mcp-Name"] = tool end
  meta = ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
    .. '"io.modelcontextprotocol/clientCapabilities":{},'
    .. '"io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"4"}}'
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

local bodies = {}
if tool then
  local file = os.getenv("BENCH_ARGS_FILE") or error("BENCH_ARGS_FILE is not set")
  local key = os.getenv("BENCH_ARG") or error("BENCH_ARG is not set")
  local extra = os.getenv("BENCH_EXTRA") or ""
  if extra ~= "" then extra = "," .. extra end
  for line in io.lines(file) do
    if line ~= "" then
      bodies[#bodies + 1] = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":' .. json_string(tool)
        .. ',"arguments":{' .. json_string(key) .. ":" .. json_string(line) .. extra .. "}" .. meta .. "}}"
    end
  end
  if #bodies == 0 then error(file .. " has no lines") end
else
  bodies[1] = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
end

-- Each wrk thread starts at a different place in the list and walks it in order.
local threads = {}
function setup(thread)
  thread:set("first", #threads * 7919)
  table.insert(threads, thread)
end

local n = 0
local mcp_errors = 0
function init(args)
  n = tonumber(first) or 0
end

function request()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end

-- Defined only for tool calls: wrk then keeps every body, which gateway.sh's runs do not need.
if tool then response = function(status, headers, body)
  if status == 200 and (body:find('"isError":true', 1, true) or body:find('"error":{', 1, true)) then
    mcp_errors = mcp_errors + 1
    if mcp_errors == 1 then io.stderr:write("first MCP error: " .. body:sub(1, 300) .. "\n") end
  end
end end

-- One machine-readable line; non-2xx/3xx answers count in errors_status.
function done(summary, latency, requests)
  local e = summary.errors
  local mcp = 0
  for _, t in ipairs(threads) do mcp = mcp + (tonumber(t:get("mcp_errors")) or 0) end
  io.write(string.format(
    "RESULT requests=%d duration_us=%d errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d errors_mcp=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, mcp,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
