#!/usr/bin/env bash
# The gateway benchmark (the targets of docs/benchmarks.md), in one command:
#
#   tests/bench/gateway.sh            full run (≈ 6 min after the build)
#   tests/bench/gateway.sh --quick    CI smoke run (BENCH_SMALL=1 does the same): 1 s per target,
#                                     one round, small populations; fails when a component does
#                                     not start or any request errors — never on the numbers
#   tests/bench/gateway.sh --profile  also records a CPU profile of the gateway (perf)
#   tests/bench/gateway.sh --stores   instead: memory, sqlite and redis state stores side by side
#                                     (tests/bench/stores.sh; --stores --quick for a smoke run)
#
# It builds the release binaries, starts on free 127.0.0.1 ports a fixed upstream
# (bench-upstream), nginx as a plain proxy, a bare Pingora pass-through (bench-passthrough),
# HAProxy checking the JWT natively, and the gateway, then drives them all with the same
# POST /mcp through `wrk` in alternating rounds, measures session memory and the noisy
# neighbour, stops everything, and writes its results to $BENCH_OUT
# (default target/bench/gateway-<time>/: results.tsv, summary.md, logs).
#
# Knobs: BENCH_SECS (per wrk run, 5), BENCH_ROUNDS (3), BENCH_CONNS (32), BENCH_USERS (4000),
# BENCH_SESSIONS_PER_USER (25), BENCH_NOISY_SECS (10), BENCH_NOISY_ROUNDS (3), BENCH_OUT,
# BENCH_BIN_DIR (use the four binaries already built there instead of building),
# BENCH_NICE (-10: run ahead of compilers sharing the machine, when permitted; 0 to leave as is).
# Needs: cargo, wrk, nginx, haproxy (Debian packages); perf only for --profile.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QUICK=${BENCH_SMALL:-0}
PROFILE=0
for a in "$@"; do
  case $a in
    --stores)
      rest=(); for b in "$@"; do [[ $b == --stores ]] || rest+=("$b"); done
      exec "$HERE/stores.sh" "${rest[@]}" ;;
    --quick) QUICK=1 ;;
    --profile) PROFILE=1 ;;
    -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "gateway.sh: unknown argument '$a' (try --help)" >&2; exit 2 ;;
  esac
done

if [[ $QUICK == 1 ]]; then
  SECS=1 ROUNDS=1 WARMUP=0 USERS=200 PER_USER=25 NOISY_SECS=2 NOISY_ROUNDS=1
else
  SECS=${BENCH_SECS:-5} ROUNDS=${BENCH_ROUNDS:-3} WARMUP=1
  USERS=${BENCH_USERS:-4000} PER_USER=${BENCH_SESSIONS_PER_USER:-25}
  NOISY_SECS=${BENCH_NOISY_SECS:-10} NOISY_ROUNDS=${BENCH_NOISY_ROUNDS:-3}
fi
CONNS=${BENCH_CONNS:-32}
OUT=${BENCH_OUT:-$ROOT/target/bench/gateway-$(date -u +%Y%m%dT%H%M%SZ)}
# Every process started here dies after this many seconds even if this script is killed.
MAX_LIFE=${BENCH_MAX_LIFE:-1800}

for tool in wrk nginx haproxy; do
  command -v "$tool" >/dev/null || { echo "gateway.sh: '$tool' is not installed" >&2; exit 2; }
done

# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"

# ---------------------------------------------------------------------------------------
if [[ -n ${BENCH_BIN_DIR:-} ]]; then
  BIN=$(cd "$BENCH_BIN_DIR" && pwd)
  say "using the binaries in $BIN (no build)"
else
  say "building release binaries"
  (cd "$ROOT" && cargo build --release --quiet -p vaultgate-gateway -p vaultgate-tests \
    --bin vaultgate-gateway --bin bench-upstream --bin bench-passthrough --bin bench-client)
  BIN=$ROOT/target/release
fi
for b in vaultgate-gateway bench-upstream bench-passthrough bench-client; do
  [[ -x $BIN/$b ]] || { echo "gateway.sh: $BIN/$b is missing" >&2; exit 2; }
done
CLIENT=$BIN/bench-client

# Run ahead of compilers sharing the machine (BENCH_NICE=0 leaves the priority alone).
prioritize

mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vaultgate-bench.XXXXXX")
chmod 755 "$WORK"

cleanup() {
  local rc=$?
  [[ -f $WORK/nginx/nginx.err ]] && mkdir -p "$OUT/logs" && cp "$WORK/nginx/nginx.err" "$OUT/logs/" || true
  finish "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r P_UP P_NGINX P_PINGORA P_HAPROXY P_GW P_GW_ADMIN P_MEM P_MEM_ADMIN P_NOISY P_NOISY_ADMIN <<<"$("$CLIENT" ports 10)"
SECRET_JWT=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
SECRET_ID=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
ISSUER=http://localhost:$P_GW

# gateway NAME PORT ADMIN_PORT [VAR=VALUE…] — starts a gateway in front of bench-upstream.
gateway() {
  local name=$1 port=$2 admin=$3; shift 3
  start "$name" env IDENTITY_SECRET="$SECRET_ID" JWT_SECRET_KEY="$SECRET_JWT" PORT="$port" LISTEN_HOST=127.0.0.1 \
    ADMIN_ADDR="127.0.0.1:$admin" BACKEND_URL="http://127.0.0.1:$P_UP" PUBLIC_URL="$ISSUER" GATEWAY_THREADS=1 \
    GATEWAY_STATE="${BENCH_STATE:-sqlite}" GATEWAY_STATE_PATH="$OUT/state/$name-$port.db" \
    RATE_LIMIT_PER_MINUTE=100000000 RATE_LIMIT_BURST=100000000 "$@" "$BIN/vaultgate-gateway"
}
mint() { JWT_SECRET_KEY="$SECRET_JWT" PUBLIC_URL="$ISSUER" "$BIN/vaultgate-gateway" mint-token --user "$1" 2>/dev/null; }

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "host: $(uname -srm); cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "mode: $([[ $QUICK == 1 ]] && echo quick || echo full); wrk -t1 -c$CONNS -d${SECS}s; rounds: $ROUNDS; $PRIORITY"
  echo "versions: $(nginx -v 2>&1); $(haproxy -v | head -1); $(wrk -v 2>&1 | head -1)"
  echo "uptime before: $(uptime)"
  echo "busiest processes before:"; ps -eo pcpu,comm --sort=-pcpu | head -6
} >"$OUT/machine.txt"

# ---------------------------------------------------------------------------------------
say "starting upstream, nginx, bare Pingora, HAProxy, gateway"
start upstream "$BIN/bench-upstream" "$P_UP"
start pingora "$BIN/bench-passthrough" "$P_PINGORA" "127.0.0.1:$P_UP"
mkdir -p "$WORK/nginx"
sed -e "s/@LISTEN@/127.0.0.1:$P_NGINX/" -e "s/@UPSTREAM@/127.0.0.1:$P_UP/" -e "s#@DIR@#$WORK/nginx#" \
  "$HERE/peers/nginx-proxy.conf" >"$WORK/nginx/nginx.conf"
start nginx nginx -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/nginx.err" -g 'daemon off;'
sed -e "s/@LISTEN@/127.0.0.1:$P_HAPROXY/" -e "s/@UPSTREAM@/127.0.0.1:$P_UP/" -e "s/@SECRET@/$SECRET_JWT/" \
  -e "s/@ASSERTION@/$("$CLIENT" assertion "$SECRET_ID" bench_user)/" "$HERE/peers/haproxy-jwt.cfg" >"$WORK/haproxy.cfg"
start haproxy haproxy -db -f "$WORK/haproxy.cfg"
gateway gateway "$P_GW" "$P_GW_ADMIN"

for port in $P_UP $P_NGINX $P_PINGORA $P_HAPROXY; do
  "$CLIENT" wait "127.0.0.1:$port" / 15 || die "nothing answers on 127.0.0.1:$port (see $OUT/logs)"
done
"$CLIENT" wait "127.0.0.1:$P_GW" /healthz 15 || die "the gateway did not start (see $OUT/logs/gateway.log)"
TOKEN=$(mint bench_user) || die "mint-token failed"
[[ -n $TOKEN ]] || die "mint-token printed nothing"
for port in $P_UP $P_NGINX $P_PINGORA $P_HAPROXY $P_GW; do
  "$CLIENT" check "127.0.0.1:$port" "$TOKEN" || die "POST /mcp through 127.0.0.1:$port failed"
done
SESSION=$("$CLIENT" session "127.0.0.1:$P_GW" "$TOKEN") || die "legacy initialize failed"

# run_wrk ROUND TARGET PORT ERA PROCESS — one wrk run; appends a row to results.tsv.
RESULTS=$OUT/results.tsv
echo -e "# round\ttarget\treq_per_s\tp50_us\tp99_us\tproxy_cpu_us_per_req\tload1" >"$RESULTS"
run_wrk() {
  local round=$1 target=$2 port=$3 era=$4 proc=$5 secs=${6:-$SECS} conns=${7:-$CONNS} c0=0 c1=0 line
  [[ $proc != - ]] && c0=$(cpu_ticks "$proc")
  line=$(BENCH_TOKEN=$TOKEN BENCH_ERA=$era BENCH_SESSION=$SESSION \
    wrk_result "$target" "$secs" "$conns" "http://127.0.0.1:$port") || exit 1
  [[ $proc != - ]] && c1=$(cpu_ticks "$proc")
  declare -A r=()
  local kv
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  [[ $round == warmup ]] && return 0
  local rps cpu
  rps=$(awk -v n="${r[requests]}" -v d="${r[duration_us]}" 'BEGIN {printf "%.0f", n * 1e6 / d}')
  cpu=-
  [[ $proc != - ]] && cpu=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="${r[requests]}" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$target" "$rps" "${r[p50_us]}" "${r[p99_us]}" "$cpu" \
    "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"
  say "round $round $target: $rps req/s, p50 ${r[p50_us]} µs, p99 ${r[p99_us]} µs, proxy CPU $cpu µs/req"
}

# target name, port, era, process whose CPU is the proxy's
TARGETS=(
  "upstream-direct $P_UP modern -"
  "nginx-plain $P_NGINX modern nginx"
  "pingora-bare $P_PINGORA modern pingora"
  "haproxy-jwt $P_HAPROXY modern haproxy"
  "gateway-modern $P_GW modern gateway"
  "gateway-legacy $P_GW legacy gateway"
)
if [[ $WARMUP == 1 ]]; then
  say "warm-up (1 s each, not recorded)"
  for t in "${TARGETS[@]}"; do read -r name port era proc <<<"$t"; run_wrk warmup "$name" "$port" "$era" "$proc" 1; done
fi
for ((round = 1; round <= ROUNDS; round++)); do
  # Alternate the order every round, so slow drift (other load, thermal) hits every target alike.
  order=("${TARGETS[@]}")
  if ((round % 2 == 0)); then
    order=(); for ((i = ${#TARGETS[@]} - 1; i >= 0; i--)); do order+=("${TARGETS[$i]}"); done
  fi
  for t in "${order[@]}"; do read -r name port era proc <<<"$t"; run_wrk "$round" "$name" "$port" "$era" "$proc"; done
done
# Latency without queueing: one connection, one request at a time (at 32 connections the p50 is
# mostly the wait behind the other 31, i.e. 32 / throughput).
LATENCY_SECS=$((QUICK == 1 ? 1 : 2))
for ((round = 1; round <= ROUNDS; round++)); do
  order=("${TARGETS[@]:1}")
  if ((round % 2 == 0)); then
    order=(); for ((i = ${#TARGETS[@]} - 1; i >= 1; i--)); do order+=("${TARGETS[$i]}"); done
  fi
  for t in "${order[@]}"; do
    read -r name port era proc <<<"$t"
    run_wrk "$round" "$name@c1" "$port" "$era" "$proc" "$LATENCY_SECS" 1
  done
done

if [[ $PROFILE == 1 ]]; then
  command -v perf >/dev/null || die "--profile needs perf (Debian package linux-perf)"
  say "profiling the gateway (modern era) for ${SECS}s"
  perf record -e cpu-clock -F 4999 -g -p "$(main_pid gateway)" -o "$OUT/perf.data" -- sleep $((SECS + 1)) \
    >"$WORK/perf.log" 2>&1 &
  perf_pid=$!
  sleep 0.5
  BENCH_TOKEN=$TOKEN BENCH_ERA=modern timeout $((SECS + 30)) wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$HERE/mcp.lua" \
    "http://127.0.0.1:$P_GW" >/dev/null
  wait "$perf_pid" || die "perf record failed (see $OUT/logs/perf.log)"
  # Release builds keep symbols but no frame pointers: self time per function is what is reliable.
  perf report -i "$OUT/perf.data" --no-children --sort dso,symbol -g none --percent-limit 0.3 --stdio 2>/dev/null \
    | grep -v '^$' | sed 's/ *$//' | head -120 >"$OUT/profile.txt" || true
fi
"$CLIENT" summarize "$RESULTS" >"$OUT/summary.md"
stop_all

# ---------------------------------------------------------------------------------------
say "session memory: $USERS users × $PER_USER legacy sessions"
start upstream "$BIN/bench-upstream" "$P_UP"
gateway gateway-mem "$P_MEM" "$P_MEM_ADMIN" SESSIONS_PER_USER="$PER_USER" SESSION_IDLE_SECS=3600
"$CLIENT" wait "127.0.0.1:$P_UP" / 15 || die "upstream did not restart"
"$CLIENT" wait "127.0.0.1:$P_MEM" /healthz 15 || die "the gateway (memory run) did not start"
sessions_active() {
  "$CLIENT" get "127.0.0.1:$P_MEM_ADMIN" /metrics | awk '/^vaultgate_gateway_sessions_active / {print $2}'
}
rss_fresh=$(rss_kib gateway-mem)
# One modern request per user first: token, audit, rate-limit and identity caches then hold
# every user, so the difference below is the sessions' own cost.
"$CLIENT" populate "127.0.0.1:$P_MEM" "$SECRET_JWT" "$ISSUER" "$USERS" 1 16 modern || die "modern warm-up failed"
rss_zero=$(rss_kib gateway-mem)
active_zero=$(sessions_active)
"$CLIENT" populate "127.0.0.1:$P_MEM" "$SECRET_JWT" "$ISSUER" "$USERS" "$PER_USER" 16 legacy \
  || die "creating legacy sessions failed"
sleep 1
rss_full=$(rss_kib gateway-mem)
active_full=$(sessions_active)
expected=$((USERS * PER_USER))
[[ $active_full == "$expected" ]] || die "sessions_active is $active_full, expected $expected"
# Throughput with every session live: a lookup in the full store.
SESSION=$("$CLIENT" session "127.0.0.1:$P_MEM" "$TOKEN") || die "legacy initialize (memory run) failed"
RESULTS_FULL=$OUT/results-full-store.tsv
echo -e "# round\ttarget\treq_per_s\tp50_us\tp99_us\tproxy_cpu_us_per_req\tload1" >"$RESULTS_FULL"
RESULTS_MAIN=$RESULTS; RESULTS=$RESULTS_FULL
for round in 1 2; do
  ((QUICK == 1 && round == 2)) && break
  run_wrk "$round" gateway-modern "$P_MEM" modern gateway-mem
  run_wrk "$round" gateway-legacy "$P_MEM" legacy gateway-mem
done
RESULTS=$RESULTS_MAIN
rss_after=$(rss_kib gateway-mem)
{
  echo "| gateway state | live sessions | VmRSS MiB |"
  echo "| --- | ---: | ---: |"
  echo "| fresh, no request yet | 0 | $(awk -v k="$rss_fresh" 'BEGIN {printf "%.1f", k / 1024}') |"
  echo "| after one modern request from each of $USERS users | $active_zero | $(awk -v k="$rss_zero" 'BEGIN {printf "%.1f", k / 1024}') |"
  echo "| after $expected legacy initializes ($USERS users × $PER_USER) | $active_full | $(awk -v k="$rss_full" 'BEGIN {printf "%.1f", k / 1024}') |"
  echo "| after the wrk runs against the full store | $(sessions_active) | $(awk -v k="$rss_after" 'BEGIN {printf "%.1f", k / 1024}') |"
  echo
  echo "Added by $expected sessions: $(awk -v a="$rss_full" -v b="$rss_zero" 'BEGIN {printf "%.1f", (a - b) / 1024}') MiB" \
    "($(awk -v a="$rss_full" -v b="$rss_zero" -v n="$expected" 'BEGIN {printf "%.0f", (a - b) * 1024 / n}') bytes per session); target ≤ 100 MB."
  echo
  echo "Throughput with all $expected sessions live (legacy uses one of them):"
  echo
  "$CLIENT" summarize "$RESULTS_FULL"
} >"$OUT/memory.md"
stop_all

# ---------------------------------------------------------------------------------------
say "noisy neighbour: user A at 10× its limit, user B steady"
start upstream "$BIN/bench-upstream" "$P_UP"
# 6000/min = 100/s per user. B sends 80/s (always within its limit); A sends 1000/s (10×).
gateway gateway-noisy "$P_NOISY" "$P_NOISY_ADMIN" RATE_LIMIT_PER_MINUTE=6000 RATE_LIMIT_BURST=100
"$CLIENT" wait "127.0.0.1:$P_UP" / 15 || die "upstream did not restart"
"$CLIENT" wait "127.0.0.1:$P_NOISY" /healthz 15 || die "the gateway (noisy run) did not start"
TOKEN_A=$(mint user_a) && TOKEN_B=$(mint user_b) || die "mint-token failed"
NOISY=$OUT/noisy.tsv
echo -e "# round\tcondition\tb_ok\tb_p50_us\tb_p90_us\tb_p99_us\tb_max_us\ta_ok\ta_429" >"$NOISY"
steady_b() { "$CLIENT" steady "127.0.0.1:$P_NOISY" "$TOKEN_B" 80 "$NOISY_SECS" 4; }
noisy_row() { # ROUND CONDITION B_LINE A_LINE
  declare -A b=() a=()
  local kv
  for kv in ${3#STEADY }; do b[${kv%%=*}]=${kv#*=}; done
  for kv in ${4#STEADY }; do a[${kv%%=*}]=${kv#*=}; done
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "${b[ok]}" "${b[p50_us]}" "${b[p90_us]}" "${b[p99_us]}" \
    "${b[max_us]}" "${a[ok]:--}" "${a[limited]:--}" >>"$NOISY"
  say "noisy round $1, $2: B p50 ${b[p50_us]} µs, p99 ${b[p99_us]} µs; A ok ${a[ok]:--}, 429 ${a[limited]:--}"
}
for ((round = 1; round <= NOISY_ROUNDS; round++)); do
  b=$(steady_b) || die "user B's requests failed without a flood: $b"
  noisy_row "$round" "B alone" "$b" ""
  "$CLIENT" steady "127.0.0.1:$P_NOISY" "$TOKEN_A" 1000 "$((NOISY_SECS + 1))" 8 allow-429 >"$WORK/flood.out" &
  flood=$!
  sleep 0.5
  b=$(steady_b) || die "user B's requests failed during A's flood: $b"
  wait "$flood" || die "user A's flood had errors other than 429: $(cat "$WORK/flood.out")"
  noisy_row "$round" "B while A sends 1000/s (10× limit)" "$b" "$(cat "$WORK/flood.out")"
done
# Not a target, for the record: A as fast as one wrk thread can go (every 429 also closes the connection).
BENCH_TOKEN=$TOKEN_A BENCH_ERA=modern timeout $((NOISY_SECS + 30)) wrk -t1 -c8 -d"$((NOISY_SECS + 1))s" \
  -s "$HERE/mcp.lua" "http://127.0.0.1:$P_NOISY" >"$WORK/wrk-flood.out" 2>&1 &
flood=$!
sleep 0.5
b=$(steady_b) || die "user B's requests failed during A's unthrottled flood: $b"
wait "$flood" || true
a_line=$(grep '^RESULT' "$WORK/wrk-flood.out" || true)
noisy_row x "B while A floods with wrk -c8 (unthrottled)" "$b" ""
echo "unthrottled flood (wrk, user A): ${a_line:-no result}" >>"$OUT/machine.txt"
stop_all

{
  echo "uptime after: $(uptime)"
  echo "busiest processes after:"; ps -eo pcpu,comm --sort=-pcpu | head -6
} >>"$OUT/machine.txt"
say "summary:"
cat "$OUT/summary.md" "$OUT/memory.md" >&2
column -t -s $'\t' "$NOISY" >&2 || cat "$NOISY" >&2
