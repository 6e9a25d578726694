#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind's callgrind (user space only): the gateway
# (modern era, a bearer token) and bare Pingora with the gateway's peer options, in front of the
# same upstream, driven by the same wrk script. Unlike a clock, the count does not depend on what
# else runs on the machine, so two builds can be compared on a busy one.
#
#   tests/bench/callgrind.sh            builds release binaries, prints one line per proxy
#   BENCH_BIN_DIR=dir tests/bench/callgrind.sh   uses binaries already built in dir
#   BENCH_SECS (5) how long wrk drives each proxy while instructions are counted.
#
# Needs: valgrind (callgrind_control), wrk.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SECS=${BENCH_SECS:-5}
MAX_LIFE=${BENCH_MAX_LIFE:-900}
for tool in wrk valgrind callgrind_control; do
  command -v "$tool" >/dev/null || { echo "callgrind.sh: '$tool' is not installed" >&2; exit 2; }
done
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"

if [[ -n ${BENCH_BIN_DIR:-} ]]; then
  BIN=$(cd "$BENCH_BIN_DIR" && pwd)
else
  say "building release binaries"
  (cd "$ROOT" && cargo build --release --quiet -p vaultgate-gateway -p vaultgate-tests \
    --bin vaultgate-gateway --bin bench-upstream --bin bench-passthrough --bin bench-client)
  BIN=$ROOT/target/release
fi
CLIENT=$BIN/bench-client
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vaultgate-callgrind.XXXXXX")
OUT=$WORK
trap 'finish $?' EXIT
trap 'exit 130' INT TERM

read -r P_UP P_PINGORA P_GW P_GW_ADMIN <<<"$("$CLIENT" ports 4)"
SECRET_JWT=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
SECRET_ID=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
ISSUER=http://localhost:$P_GW
CG=(valgrind --tool=callgrind --instr-atstart=no --vgdb=yes)

start upstream "$BIN/bench-upstream" "$P_UP"
start pingora "${CG[@]}" --callgrind-out-file="$WORK/pingora.cg" "$BIN/bench-passthrough" "$P_PINGORA" "127.0.0.1:$P_UP"
start gateway env IDENTITY_SECRET="$SECRET_ID" JWT_SECRET_KEY="$SECRET_JWT" PORT="$P_GW" LISTEN_HOST=127.0.0.1 \
  ADMIN_ADDR="127.0.0.1:$P_GW_ADMIN" BACKEND_URL="http://127.0.0.1:$P_UP" PUBLIC_URL="$ISSUER" GATEWAY_THREADS=1 \
  GATEWAY_STATE=memory RATE_LIMIT_PER_MINUTE=100000000 RATE_LIMIT_BURST=100000000 \
  "${CG[@]}" --callgrind-out-file="$WORK/gateway.cg" "$BIN/vaultgate-gateway"
"$CLIENT" wait "127.0.0.1:$P_UP" / 15 || die "the upstream did not start"
"$CLIENT" wait "127.0.0.1:$P_PINGORA" / 120 || die "bare Pingora did not start under valgrind"
"$CLIENT" wait "127.0.0.1:$P_GW" /healthz 120 || die "the gateway did not start under valgrind"
TOKEN=$(JWT_SECRET_KEY="$SECRET_JWT" PUBLIC_URL="$ISSUER" "$BIN/vaultgate-gateway" mint-token --user bench_user 2>/dev/null)
[[ -n $TOKEN ]] || die "mint-token printed nothing"

# count NAME PORT — warms up, counts instructions while wrk runs, prints instructions per request.
count() {
  local name=$1 port=$2 pid line n ir
  pid=$(pgrep -f "valgrind[.a-z]* .*callgrind-out-file=$WORK/$name.cg" | tail -1)
  [[ -n $pid ]] || die "no valgrind process for $name"
  # Instrumented from here (start-up is not), warmed up, then counted from zero.
  callgrind_control -i on "$pid" >/dev/null 2>&1
  BENCH_TOKEN=$TOKEN BENCH_ERA=modern wrk_result "$name" 1 8 "http://127.0.0.1:$port" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  line=$(BENCH_TOKEN=$TOKEN BENCH_ERA=modern wrk_result "$name" "$SECS" 8 "http://127.0.0.1:$port")
  callgrind_control -d "$pid" >/dev/null 2>&1
  n=$(tr ' ' '\n' <<<"$line" | awk -F= '$1 == "requests" {print $2}')
  [[ -n ${BENCH_KEEP:-} ]] && mkdir -p "$BENCH_KEEP" && cp "$WORK/$name.cg".* "$BENCH_KEEP/"
  ir=$(cat "$WORK/$name.cg"* | awk '/^summary:/ {s += $2} END {print s + 0}')
  awk -v ir="$ir" -v n="$n" -v name="$name" 'BEGIN {printf "%s\t%d requests\t%.1f k instructions per request\n", name, n, ir / n / 1000}'
}
count pingora "$P_PINGORA"
count gateway "$P_GW"
