#!/usr/bin/env bash
# Gateway throughput with each state store side by side:
#
#   tests/bench/gateway.sh --stores        (or: tests/bench/stores.sh [--quick])
#
# Starts bench-upstream, a redis-server, and three gateways in front of the same upstream —
# GATEWAY_STATE=memory, sqlite and redis — then drives each with the gateway benchmark's
# workload (tests/bench/mcp.lua: POST /mcp tools/list with a gateway token, modern era, and
# legacy era with a session) through `wrk`, in alternating rounds so drift hits all alike.
# Each gateway's rate limit is set out of reach but still *checked* (for redis: one Lua
# script per request), as are revocations. Writes stores.tsv and stores.md (ratios to memory)
# to $BENCH_OUT (default target/bench/stores-<time>/).
#
# Knobs: BENCH_SECS (5), BENCH_ROUNDS (3), BENCH_CONNS (32), BENCH_BIN_DIR, BENCH_SMALL=1 / --quick
# (1 s, one round). Needs: cargo, wrk, redis-server (Debian packages).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QUICK=${BENCH_SMALL:-0}
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "stores.sh: unknown argument '$a' (try --help)" >&2; exit 2 ;;
  esac
done
if [[ $QUICK == 1 ]]; then SECS=1 ROUNDS=1; else SECS=${BENCH_SECS:-5} ROUNDS=${BENCH_ROUNDS:-3}; fi
CONNS=${BENCH_CONNS:-32}
OUT=${BENCH_OUT:-$ROOT/target/bench/stores-$(date -u +%Y%m%dT%H%M%SZ)}
MAX_LIFE=${BENCH_MAX_LIFE:-900}
for tool in wrk redis-server; do
  command -v "$tool" >/dev/null || { echo "stores.sh: '$tool' is not installed" >&2; exit 2; }
done
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"

if [[ -n ${BENCH_BIN_DIR:-} ]]; then
  BIN=$(cd "$BENCH_BIN_DIR" && pwd)
else
  say "building release binaries"
  (cd "$ROOT" && cargo build --release --quiet -p vaultgate-gateway -p vaultgate-tests \
    --bin vaultgate-gateway --bin bench-upstream --bin bench-client)
  BIN=$ROOT/target/release
fi
for b in vaultgate-gateway bench-upstream bench-client; do
  [[ -x $BIN/$b ]] || { echo "stores.sh: $BIN/$b is missing" >&2; exit 2; }
done
CLIENT=$BIN/bench-client

mkdir -p "$OUT/state"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vaultgate-stores.XXXXXX")
trap 'finish $?' EXIT
trap 'exit 130' INT TERM

read -r P_UP P_REDIS P_MEM P_MEM_A P_SQL P_SQL_A P_RED P_RED_A <<<"$("$CLIENT" ports 8)"
SECRET_JWT=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
SECRET_ID=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
ISSUER=http://vaultgate.bench

start upstream "$BIN/bench-upstream" "$P_UP"
start redis redis-server --port "$P_REDIS" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK"
# gateway NAME STORE PORT ADMIN — one gateway in front of bench-upstream.
gateway() {
  start "$1" env IDENTITY_SECRET="$SECRET_ID" JWT_SECRET_KEY="$SECRET_JWT" PORT="$3" LISTEN_HOST=127.0.0.1 \
    ADMIN_ADDR="127.0.0.1:$4" BACKEND_URL="http://127.0.0.1:$P_UP" PUBLIC_URL="$ISSUER" GATEWAY_THREADS=1 \
    GATEWAY_STATE="$2" GATEWAY_STATE_PATH="$OUT/state/$1.db" REDIS_URL="redis://127.0.0.1:$P_REDIS/0" \
    RATE_LIMIT_PER_MINUTE=100000000 RATE_LIMIT_BURST=100000000 "$BIN/vaultgate-gateway"
}
gateway gw-memory memory "$P_MEM" "$P_MEM_A"
gateway gw-sqlite sqlite "$P_SQL" "$P_SQL_A"
gateway gw-redis redis "$P_RED" "$P_RED_A"
"$CLIENT" wait "127.0.0.1:$P_UP" / 15 || die "bench-upstream did not start"
for p in $P_MEM $P_SQL $P_RED; do
  "$CLIENT" wait "127.0.0.1:$p" /healthz 15 || die "a gateway did not start on $p (see $OUT/logs)"
done
TOKEN=$(JWT_SECRET_KEY="$SECRET_JWT" PUBLIC_URL="$ISSUER" "$BIN/vaultgate-gateway" mint-token --user bench_user 2>/dev/null)
[[ -n $TOKEN ]] || die "mint-token failed"
declare -A SESSION=()
for t in "memory $P_MEM" "sqlite $P_SQL" "redis $P_RED"; do
  read -r store port <<<"$t"
  "$CLIENT" check "127.0.0.1:$port" "$TOKEN" || die "POST /mcp through the $store gateway failed"
  SESSION[$store]=$("$CLIENT" session "127.0.0.1:$port" "$TOKEN") || die "initialize on $store failed"
done

RESULTS=$OUT/stores.tsv
echo -e "# round\tstore\tera\treq_per_s\tp50_us\tp99_us\tgateway_cpu_us_per_req\tredis_cpu_us_per_req" >"$RESULTS"
run() { # ROUND STORE PORT ERA
  local round=$1 store=$2 port=$3 era=$4 out g0 g1 r0 r1
  g0=$(cpu_ticks "gw-$store"); r0=$(cpu_ticks redis)
  out=$(BENCH_TOKEN=$TOKEN BENCH_ERA=$era BENCH_SESSION=${SESSION[$store]} \
    timeout $((SECS + 30)) wrk -t1 -c"$CONNS" -d"${SECS}s" --timeout 5s -s "$HERE/mcp.lua" "http://127.0.0.1:$port") ||
    die "wrk against $store failed: $out"
  g1=$(cpu_ticks "gw-$store"); r1=$(cpu_ticks redis)
  local line; line=$(grep '^RESULT' <<<"$out") || die "wrk printed no result for $store: $out"
  declare -A r=()
  local kv
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  local errors=$((r[errors_connect] + r[errors_read] + r[errors_write] + r[errors_status] + r[errors_timeout]))
  ((errors == 0)) || die "$store/$era: $errors of ${r[requests]} requests failed ($line)"
  [[ $round == warmup ]] && return 0
  local rps gcpu rcpu
  rps=$(awk -v n="${r[requests]}" -v d="${r[duration_us]}" 'BEGIN {printf "%.0f", n * 1e6 / d}')
  gcpu=$(awk -v t=$((g1 - g0)) -v hz="$CLK_TCK" -v n="${r[requests]}" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  rcpu=$(awk -v t=$((r1 - r0)) -v hz="$CLK_TCK" -v n="${r[requests]}" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$store" "$era" "$rps" "${r[p50_us]}" "${r[p99_us]}" "$gcpu" "$rcpu" >>"$RESULTS"
  say "round $round $store/$era: $rps req/s, p50 ${r[p50_us]} µs, gateway CPU $gcpu µs/req, redis CPU $rcpu µs/req"
}
TARGETS=("memory $P_MEM" "sqlite $P_SQL" "redis $P_RED")
for t in "${TARGETS[@]}"; do read -r s p <<<"$t"; run warmup "$s" "$p" modern; done
for ((round = 1; round <= ROUNDS; round++)); do
  order=("${TARGETS[@]}")
  ((round % 2 == 0)) && order=("${TARGETS[2]}" "${TARGETS[1]}" "${TARGETS[0]}")
  for era in modern legacy; do
    for t in "${order[@]}"; do read -r s p <<<"$t"; run "$round" "$s" "$p" "$era"; done
  done
done
stop_all

{
  echo "# Gateway throughput by state store ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "$(uname -srm), $(nproc) cores; wrk -t1 -c$CONNS -d${SECS}s, $ROUNDS round(s), medians; $(redis-server --version | cut -d' ' -f1-3)"
  echo
  echo "| store | era | req/s (median) | ratio to memory | p50 µs | p99 µs | gateway CPU µs/req | redis CPU µs/req |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  for era in modern legacy; do
    mem=$(awk -F'\t' -v e="$era" '$2 == "memory" && $3 == e {print $4}' "$RESULTS" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    for store in memory sqlite redis; do
      awk -F'\t' -v s="$store" -v e="$era" '$2 == s && $3 == e' "$RESULTS" | sort -t$'\t' -k4,4n |
        awk -F'\t' -v s="$store" -v e="$era" -v m="$mem" '{r[NR] = $0} END {
          split(r[int((NR + 1) / 2)], f, "\t")
          printf "| %s | %s | %d | %.2f | %s | %s | %s | %s |\n", s, e, f[4], f[4] / m, f[5], f[6], f[7], f[8] }'
    done
  done
} >"$OUT/stores.md"
cat "$OUT/stores.md" >&2
