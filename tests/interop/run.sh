#!/usr/bin/env bash
# vaultgate against software other people wrote: the official Python MCP SDK, the MCP Inspector
# CLI, the official MCP conformance suite (both protocol eras), then bounded cargo-fuzz runs.
# Every part fails the run when it fails. Everything is pinned and installed fresh under
# target/interop (nothing is cached across runs); servers listen on free 127.0.0.1 ports and are
# killed by PID on exit.
#
#   tests/interop/run.sh                 # all parts
#   INTEROP_PARTS="python conformance" tests/interop/run.sh
#   FUZZ_SECONDS=60 tests/interop/run.sh # time per fuzz target (default 45)
#   VAULTGATE_BIN_DIR=target/debug tests/interop/run.sh  # use binaries already built there
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/tests/interop
WORK=$ROOT/target/interop
PARTS=${INTEROP_PARTS:-python inspector conformance fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-45}
# Pinned versions (npm packages are pinned by tests/interop/package-lock.json, Python ones here).
CARGO_FUZZ_VERSION=0.13.2
PYTHON_REQUIREMENTS=$HERE/requirements.txt

started=$(date +%s)
step() { printf '\n==> interop: %s (%s, +%ss)\n' "$*" "$(date -u +%H:%M:%S)" "$(($(date +%s) - started))"; }
die() { printf 'interop error: %s\n' "$*" >&2; exit 1; }
want() { [[ " $PARTS " == *" $1 "* ]]; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }
wait_healthy() { # url pid log
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "process for $1 exited"; }
    sleep 0.1
  done
  cat "$3" >&2
  die "$1 not healthy after 30 s"
}

rm -rf "$WORK/run"
mkdir -p "$WORK/run"
RUN=$WORK/run

# ---------------------------------------------------------------------------------------------
step "install pinned tools"
# INTEROP_REUSE_TOOLS=1 skips the installs (for quick local reruns only; CI always installs).
reuse=${INTEROP_REUSE_TOOLS:-0}
if want python && [ "$reuse" != 1 ]; then
  rm -rf "$WORK/venv"
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir -r "$PYTHON_REQUIREMENTS"
  "$WORK/venv/bin/python" -c 'import importlib.metadata as m; print("python mcp", m.version("mcp"), "httpx2", m.version("httpx2"))'
fi
NODE22_BIN=$HERE/node_modules/node/bin
if { want inspector || want conformance; } && [ "$reuse" != 1 ]; then
  # node@22 comes from npm (the conformance suite needs Node >= 22); the system Node stays as it is.
  (cd "$HERE" && rm -rf node_modules && npm ci --no-audit --no-fund --loglevel=error)
  "$NODE22_BIN/node" --version | grep -q '^v22\.' || die "node@22 did not install"
  for pkg in @modelcontextprotocol/conformance @modelcontextprotocol/inspector; do
    echo "$pkg $("$NODE22_BIN/node" -p "require('$HERE/node_modules/$pkg/package.json').version")"
  done
fi
if want fuzz && [ "$reuse" != 1 ]; then
  rm -rf "$WORK/tools"
  cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$WORK/tools"
fi
if [ -n "${VAULTGATE_BIN_DIR:-}" ]; then
  BIN=$(cd "$VAULTGATE_BIN_DIR" && pwd)  # already built (.ci/run: by the workspace's test build)
else
  step "build gateway and backend"
  cargo build --quiet -p vaultgate-gateway -p vaultgate-backend
  BIN=$ROOT/target/debug
fi

# ---------------------------------------------------------------------------------------------
# One backend; two gateways in front of it: "tokens" (every request needs a gateway token) and,
# for the conformance suite which cannot send one, "local" (LOCAL_AUTH_USER on loopback only).
IDENTITY_SECRET=$(secret)
JWT_SECRET_KEY=$(secret)
export IDENTITY_SECRET JWT_SECRET_KEY
BACKEND_PORT=$(free_port)
BACKEND_ADMIN=$(free_port)
start_backend() {
  MODE=local BACKEND_LISTEN=127.0.0.1:$BACKEND_PORT BACKEND_ADMIN_ADDR=127.0.0.1:$BACKEND_ADMIN \
    VAULT_BASE_PATH=$RUN/vaults DATABASE_PATH=$RUN/index.db RUST_LOG=warn \
    "$BIN/vaultgate-backend" >"$RUN/backend.log" 2>&1 &
  pids+=($!)
  wait_healthy "http://127.0.0.1:$BACKEND_PORT/healthz" "$!" "$RUN/backend.log"
}
start_gateway() { # name port [VAR=value ...]  (PUBLIC_URL unset: the default http://localhost:PORT)
  local name=$1 port=$2
  shift 2
  GW_ADMIN=127.0.0.1:$(free_port)
  env MODE=local PORT="$port" LISTEN_HOST=127.0.0.1 ADMIN_ADDR="$GW_ADMIN" \
    BACKEND_URL="http://127.0.0.1:$BACKEND_PORT" \
    GATEWAY_STATE=memory RATE_LIMIT_PER_MINUTE=100000 RATE_LIMIT_BURST=10000 \
    AUTH_FAILURE_LIMIT_PER_MINUTE=10000 IP_RATE_LIMIT_PER_MINUTE=100000 RUST_LOG=warn "$@" \
    "$BIN/vaultgate-gateway" >"$RUN/gateway-$name.log" 2>&1 &
  pids+=($!)
  wait_healthy "http://127.0.0.1:$port/healthz" "$!" "$RUN/gateway-$name.log"
}
mint() { # user gateway-port
  RUST_LOG=warn PUBLIC_URL="http://localhost:$2" "$BIN/vaultgate-gateway" mint-token --user "$1" --ttl 2h
}

step "start backend and gateways"
start_backend
GW_PORT=$(free_port)
start_gateway tokens "$GW_PORT"
GW_TOKENS_ADMIN=$GW_ADMIN
MCP_URL=http://127.0.0.1:$GW_PORT/mcp
if want conformance; then
  GW_LOCAL_PORT=$(free_port)
  start_gateway local "$GW_LOCAL_PORT" LOCAL_AUTH_USER=conformance
fi
echo "backend :$BACKEND_PORT, gateway (tokens) :$GW_PORT${GW_LOCAL_PORT:+, gateway (LOCAL_AUTH_USER) :$GW_LOCAL_PORT}"

# ---------------------------------------------------------------------------------------------
if want python; then
  step "1/4 Python MCP SDK client (legacy + 2026-07-28, every tool, resources, three users)"
  VG_URL=$MCP_URL VG_TOKEN_ALICE=$(mint alice "$GW_PORT") VG_TOKEN_BOB=$(mint bob "$GW_PORT") \
    VG_TOKEN_CAROL=$(mint carol "$GW_PORT") "$WORK/venv/bin/python" "$HERE/python_client.py"
fi

if want inspector; then
  step "2/4 MCP Inspector CLI (tools/list and tools/call with an Authorization header)"
  PATH=$NODE22_BIN:$PATH VG_URL=$MCP_URL VG_TOKEN=$(mint inspector "$GW_PORT") VG_ADMIN=$GW_TOKENS_ADMIN \
    INSPECTOR=$HERE/node_modules/.bin/mcp-inspector bash "$HERE/inspector.sh"
fi

if want conformance; then
  step "3/4 MCP conformance suite, server scenarios, 2025-11-25 and 2026-07-28"
  PATH=$NODE22_BIN:$PATH CONFORMANCE=$HERE/node_modules/.bin/conformance \
    VG_URL=http://127.0.0.1:$GW_LOCAL_PORT/mcp VG_TOKEN_URL=$MCP_URL OUT=$RUN/conformance \
    bash "$HERE/conformance.sh"
fi

cleanup
pids=()

if want fuzz; then
  step "4/4 cargo fuzz: ${FUZZ_SECONDS}s per target"
  PATH=$WORK/tools/bin:$PATH FUZZ_SECONDS=$FUZZ_SECONDS bash "$ROOT/tests/fuzz/run.sh"
fi
step "all parts passed in $(($(date +%s) - started))s"
