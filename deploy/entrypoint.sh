#!/usr/bin/env bash
# Starts the whole of vaultgate: the backend on loopback, then the gateway on $PORT.
#
#   deploy/entrypoint.sh --build     # from a clone: build release binaries, then run (MODE=local)
#   deploy/entrypoint.sh             # binaries already on PATH or in $VAULTGATE_BIN_DIR (the container)
#
# In MODE=local (the default) missing secrets are generated and announced as ephemeral,
# data goes to ./data, and a ready token plus an MCP client configuration are printed.
# In MODE=space the gateway refuses to start without a strong JWT_SECRET_KEY; data goes to
# /data when writable. IDENTITY_SECRET is generated when unset in both modes (it is only
# shared between the two processes started here); in MODE=space an AUDIT_HASH_KEY is created
# once in the data directory when unset. Port and public URL are the gateway's own (config --get).
# SIGTERM/SIGINT go to both; when either dies the other is stopped and the script exits non-zero.
set -euo pipefail

say() { printf '[vaultgate] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

build=0
for arg in "$@"; do
  case "$arg" in
    --build) build=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$arg' (try --help)" ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$build" = 1 ]; then
  command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (https://rustup.rs)"
  say "building release binaries (the first build takes a few minutes)…"
  (cd "$root" && cargo build --release -p vaultgate-gateway -p vaultgate-backend) || die "build failed"
  VAULTGATE_BIN_DIR="$root/target/release"
fi

find_bin() {
  if [ -n "${VAULTGATE_BIN_DIR:-}" ] && [ -x "$VAULTGATE_BIN_DIR/$1" ]; then echo "$VAULTGATE_BIN_DIR/$1"
  elif command -v "$1" >/dev/null; then command -v "$1"
  else die "$1 not found: run with --build, or set VAULTGATE_BIN_DIR"; fi
}
gateway_bin="$(find_bin vaultgate-gateway)"
backend_bin="$(find_bin vaultgate-backend)"

random_secret() { head -c 48 /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'; }

# Only this script's own choices depend on the mode; the programs resolve MODE themselves.
mode="${MODE:-local}"

# Where data lives: DATA_DIR, else /data in a Space when writable, else ./data.
if [ -z "${DATA_DIR:-}" ]; then
  if [ "$mode" = space ]; then
    if mkdir -p /data/vaultgate 2>/dev/null && [ -w /data/vaultgate ]; then DATA_DIR=/data/vaultgate
    else DATA_DIR="$PWD/data"; say "/data is not writable (no persistent storage attached?): using $DATA_DIR — notes are LOST on restart"; fi
  else
    DATA_DIR="$PWD/data"
  fi
fi
mkdir -p "$DATA_DIR" || die "cannot create data directory $DATA_DIR"
export VAULT_BASE_PATH="${VAULT_BASE_PATH:-$DATA_DIR/vaults}"
export DATABASE_PATH="${DATABASE_PATH:-$DATA_DIR/index.db}"
export GATEWAY_STATE_PATH="${GATEWAY_STATE_PATH:-$DATA_DIR/gateway.db}"

if [ -z "${IDENTITY_SECRET:-}" ]; then
  IDENTITY_SECRET="$(random_secret)"; export IDENTITY_SECRET
  say "IDENTITY_SECRET not set: generated one for this run (shared by the two processes only)"
fi
if [ -z "${AUDIT_HASH_KEY:-}" ] && [ "$mode" = space ]; then
  # The backend requires it in space mode: the audit log's note-path hashes must stay comparable
  # across restarts. Kept beside the data, which holds the paths in clear anyway.
  key_file="$DATA_DIR/audit-hash-key"
  if [ ! -s "$key_file" ]; then
    (umask 077 && random_secret >"$key_file") || die "cannot write $key_file"
    say "AUDIT_HASH_KEY not set: created $key_file (kept with the data across restarts)"
  fi
  AUDIT_HASH_KEY="$(cat "$key_file")"; export AUDIT_HASH_KEY
fi
if [ -z "${JWT_SECRET_KEY:-}" ] && [ "$mode" = local ]; then
  JWT_SECRET_KEY="$(random_secret)"; export JWT_SECRET_KEY
  say "JWT_SECRET_KEY not set: generated an EPHEMERAL key — tokens stop working when this stops. Set JWT_SECRET_KEY to keep them."
fi

if [ -z "${LOCAL_SIGNIN_CODE:-}" ] && [ "$mode" = local ]; then
  # The code "Continue as local user" asks for: only who reads this console can sign in.
  LOCAL_SIGNIN_CODE="$(random_secret | tr -dc 'A-Za-z0-9')"; export LOCAL_SIGNIN_CODE
fi

export BACKEND_LISTEN="${BACKEND_LISTEN:-127.0.0.1:8001}"
export BACKEND_URL="${BACKEND_URL:-http://$BACKEND_LISTEN}"

# The gateway derives its port (PORT, MCP_PORT, 7860) and public URL (PUBLIC_URL, https://$SPACE_HOST,
# http://localhost:$PORT) itself: ask it instead of deriving them again. This also checks the whole
# gateway configuration before anything starts.
port="$("$gateway_bin" config --get listen.port)" || die "the gateway's configuration is not usable (see above)"
public_url="$("$gateway_bin" config --get public_url)" || die "the gateway's configuration is not usable (see above)"

backend_pid=""; gateway_pid=""
stop_all() {
  for pid in $gateway_pid $backend_pid; do kill -TERM "$pid" 2>/dev/null || true; done
}
# Whatever ends this script (an error included) must not leave a process behind.
trap stop_all EXIT
on_signal() {
  say "stopping…"
  stop_all
  wait 2>/dev/null || true
  exit 0
}
trap on_signal TERM INT

wait_healthy() { # name url pid
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null --max-time 1 "$2" 2>/dev/null; then return 0; fi
    kill -0 "$3" 2>/dev/null || die "$1 exited during start"
    sleep 0.1
  done
  die "$1 did not become healthy at $2"
}

"$backend_bin" & backend_pid=$!
wait_healthy backend "http://$BACKEND_LISTEN/healthz" "$backend_pid"
"$gateway_bin" & gateway_pid=$!
wait_healthy gateway "http://127.0.0.1:$port/healthz" "$gateway_pid"

if [ "$mode" = local ]; then
  user="${LOCAL_USER:-local}"
  token="$("$gateway_bin" mint-token --user "$user")" || die "could not mint a token"
  cat <<MSG

  vaultgate is running: $public_url   (MCP endpoint: $public_url/mcp)
  In a browser on this machine: open http://localhost:$port/?code=$LOCAL_SIGNIN_CODE
  and press "Continue as local user" (the code keeps others, even behind a proxy, out).
  health: curl $public_url/healthz   backend: curl http://$BACKEND_LISTEN/healthz

  A token for user '$user':
    $token

  Try it:
    curl -H "Authorization: Bearer \$TOKEN" $public_url/api/me

  Claude Code (.mcp.json) and Cursor (~/.cursor/mcp.json) use "mcpServers":
  {
    "mcpServers": {
      "vaultgate": {
        "type": "http",
        "url": "$public_url/mcp",
        "headers": { "Authorization": "Bearer $token" }
      }
    }
  }

  VS Code (.vscode/mcp.json: "servers"; asks for the token once and stores it as a secret):
  {
    "inputs": [
      { "type": "promptString", "id": "vaultgate-token", "description": "vaultgate token", "password": true }
    ],
    "servers": {
      "vaultgate": {
        "type": "http",
        "url": "$public_url/mcp",
        "headers": { "Authorization": "Bearer \${input:vaultgate-token}" }
      }
    }
  }

  Ctrl-C stops both.
MSG
else
  say "gateway on :$port, backend on $BACKEND_LISTEN, data in $DATA_DIR"
fi

# Whichever process ends first ends the run: no half-alive container.
set +e
wait -n "$backend_pid" "$gateway_pid"
status=$?
set -e
if kill -0 "$backend_pid" 2>/dev/null; then dead=gateway; else dead=backend; fi
say "$dead exited (status $status): stopping the other"
stop_all
wait 2>/dev/null || true
exit $(( status == 0 ? 1 : status ))
