#!/usr/bin/env bash
# Proves that the backend is swappable: the same gateway binary fronts our Rust backend and
# this Python example in turn; for each, the conformance kit runs against the backend
# directly and the official Python MCP client runs through the gateway as two users.
# Called by .ci/run; runnable by hand from anywhere. Exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/python-backend-venv
work=$(mktemp -d)
pids=()
say() { printf '\n--> %s\n' "$*"; }

cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    for log in "$work"/*.log; do
      [ -e "$log" ] && { echo "--- last lines of $(basename "$log")"; tail -n 30 "$log"; }
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ok() { # URL PID: until URL answers 200, while PID lives (30 s at most)
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "process $2 died before $1 answered" >&2; return 1; }
    sleep 0.1
  done
  echo "$1 did not answer in 30 s" >&2
  return 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

say "Python environment ($venv)"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

# With VAULTGATE_BIN_DIR set (.ci/run, after `cargo test --workspace`) the binaries and the kit
# are already built; without it, build them here.
if [ -z "${VAULTGATE_BIN_DIR:-}" ]; then
  say "binaries"
  cargo build --quiet -p vaultgate-gateway -p vaultgate-backend
  cargo test --quiet -p vaultgate-tests --test backend_contract --no-run
fi
bin=${VAULTGATE_BIN_DIR:-$target/debug}

identity_secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
jwt_secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')

start_backend() { # KIND PORT → PID in $backend_pid
  case "$1" in
    rust)
      IDENTITY_SECRET=$identity_secret BACKEND_LISTEN=127.0.0.1:$2 \
        BACKEND_ADMIN_ADDR=127.0.0.1:$(free_port) VAULT_BASE_PATH=$work/rust/vaults \
        DATABASE_PATH=$work/rust/index.db "$bin/vaultgate-backend" >"$work/rust-backend.log" 2>&1 &
      ;;
    python)
      IDENTITY_SECRET=$identity_secret BACKEND_LISTEN=127.0.0.1:$2 \
        ALLOWED_HOSTS='127.0.0.1:*,localhost:*' \
        "$venv/bin/python" "$here/server.py" >"$work/python-backend.log" 2>&1 &
      ;;
  esac
  backend_pid=$!
  pids+=("$backend_pid")
}

for kind in rust python; do
  say "$kind backend behind the gateway"
  bport=$(free_port)
  start_backend "$kind" "$bport"
  wait_ok "http://127.0.0.1:$bport/healthz" "$backend_pid"

  gport=$(free_port)
  export JWT_SECRET_KEY=$jwt_secret PUBLIC_URL=http://127.0.0.1:$gport
  IDENTITY_SECRET=$identity_secret PORT=$gport LISTEN_HOST=127.0.0.1 \
    ADMIN_ADDR=127.0.0.1:$(free_port) BACKEND_URL=http://127.0.0.1:$bport GATEWAY_STATE=memory \
    "$bin/vaultgate-gateway" >"$work/$kind-gateway.log" 2>&1 &
  gateway_pid=$!
  pids+=("$gateway_pid")
  wait_ok "http://127.0.0.1:$gport/readyz" "$gateway_pid"

  say "conformance kit against the $kind backend (BACKEND_URL=http://127.0.0.1:$bport)"
  BACKEND_URL=http://127.0.0.1:$bport IDENTITY_SECRET=$identity_secret \
    cargo test --quiet -p vaultgate-tests --test backend_contract

  say "official Python MCP client through the gateway to the $kind backend"
  token_a=$("$bin/vaultgate-gateway" mint-token --user "ci-alice-$kind" --ttl 10m 2>/dev/null)
  token_b=$("$bin/vaultgate-gateway" mint-token --user "ci-bob-$kind" --ttl 10m 2>/dev/null)
  "$venv/bin/python" "$here/client.py" "http://127.0.0.1:$gport/mcp" "$token_a" "$token_b"

  stop "$gateway_pid"
  stop "$backend_pid"
  unset JWT_SECRET_KEY PUBLIC_URL
done
say "both backends passed the same kit behind the same gateway binary"
