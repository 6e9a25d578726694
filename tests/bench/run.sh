#!/usr/bin/env bash
# The end-to-end benchmark, in one command:
#
#   tests/bench/run.sh           full run: 10 users × 10,000 notes (seeded), ≈ 15 min after the build
#   tests/bench/run.sh --docs    the same, then copies the report and charts into docs/bench/
#   tests/bench/run.sh --quick   CI smoke run (BENCH_SMALL=1 does the same): 2 users × 500 notes,
#                                1 s per measurement, one round, no basic-memory unless
#                                BENCH_BASIC_MEMORY=1; fails when something does not start or any
#                                request errors — never on the numbers
#
# It builds the release binaries, generates the corpus with backend/examples/bench.rs, indexes it,
# starts on free 127.0.0.1 ports the backend, the gateway in front of it, HAProxy-JWT in front of
# the same backend (tests/bench/peers/haproxy-jwt.cfg) and basic-memory on a copy of one vault,
# then drives them all with the same wrk client (tests/bench/mcp.lua): `tools/call read_note` and
# `search_notes` at 1, 8 and 64 connections, in alternating rounds. Then the gateway's memory with
# 0 / 10k / 100k live sessions, the backend's memory, and search latency at 1k / 10k / 100k notes
# per user. bench-report writes e2e.md and SVG charts into $BENCH_OUT
# (default target/bench/e2e-<time>/), along with the raw TSVs, machine.txt and logs.
#
# Knobs: BENCH_USERS (10), BENCH_NOTES (10000 per user), BENCH_SEED (2026), BENCH_SECS (5 per
# run), BENCH_ROUNDS (2), BENCH_CONNS ("1 8 64"), BENCH_SESSIONS ("10000 100000"), BENCH_SCALE
# ("1000,10000,100000"), BENCH_BASIC_MEMORY (1 full / 0 quick: set 0 to skip it),
# BENCH_BM_NOTES (notes of one vault copied into basic-memory, 1000), BENCH_PYTHON (a Python
# ≥ 3.12 for basic-memory; default: python3.12 on PATH or under pyenv), BENCH_OUT, BENCH_BIN_DIR
# (prebuilt binaries: vaultgate-gateway, vaultgate-backend, bench-client, bench-report,
# examples/bench), BENCH_NICE (-10).
# Needs: cargo, wrk, haproxy (Debian packages); Python ≥ 3.12 and PyPI for basic-memory.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
QUICK=${BENCH_SMALL:-0}
DOCS=0
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    --docs) DOCS=1 ;;
    -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$a' (try --help)" >&2; exit 2 ;;
  esac
done

BM_VERSION=0.24.1
if [[ $QUICK == 1 ]]; then
  USERS=2 NOTES=500 SECS=1 ROUNDS=1 SESSIONS="1000 5000" SCALE=100,500,1000 QUERIES=200
  BASIC_MEMORY=${BENCH_BASIC_MEMORY:-0}
else
  USERS=${BENCH_USERS:-10} NOTES=${BENCH_NOTES:-10000} SECS=${BENCH_SECS:-5} ROUNDS=${BENCH_ROUNDS:-2}
  SESSIONS=${BENCH_SESSIONS:-10000 100000} SCALE=${BENCH_SCALE:-1000,10000,100000} QUERIES=1000
  BASIC_MEMORY=${BENCH_BASIC_MEMORY:-1}
fi
CONNS=${BENCH_CONNS:-1 8 64}
SEED=${BENCH_SEED:-2026}
OUT=${BENCH_OUT:-$ROOT/target/bench/e2e-$(date -u +%Y%m%dT%H%M%SZ)}
# Every process started here dies after this many seconds even if this script is killed.
MAX_LIFE=${BENCH_MAX_LIFE:-2700}
BENCH_USER=user00

for tool in wrk haproxy; do
  command -v "$tool" >/dev/null || { echo "run.sh: '$tool' is not installed" >&2; exit 2; }
done

# ---------------------------------------------------------------------------------------
if [[ -n ${BENCH_BIN_DIR:-} ]]; then
  BIN=$(cd "$BENCH_BIN_DIR" && pwd)
  BUILD="binaries from $BIN"
  say "using the binaries in $BIN (no build)"
else
  say "building release binaries"
  (cd "$ROOT" && cargo build --release --quiet -p vaultgate-gateway -p vaultgate-backend -p vaultgate-tests \
    --bin vaultgate-gateway --bin vaultgate-backend --bin bench-client --bin bench-report --example bench)
  BIN=$ROOT/target/release
  BUILD="release build (fat LTO)"
fi
for b in vaultgate-gateway vaultgate-backend bench-client bench-report examples/bench; do
  [[ -x $BIN/$b ]] || { echo "run.sh: $BIN/$b is missing" >&2; exit 2; }
done
CLIENT=$BIN/bench-client

prioritize
mkdir -p "$OUT/load"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vaultgate-e2e.XXXXXX")
chmod 755 "$WORK"
trap 'finish $?' EXIT
trap 'exit 130' INT TERM

read -r P_BACKEND P_BACKEND_ADMIN P_GW P_GW_ADMIN P_HAPROXY P_BM P_MEM P_MEM_ADMIN <<<"$("$CLIENT" ports 8)"
SECRET_JWT=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
SECRET_ID=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
ISSUER=http://localhost:$P_GW
DATA=$WORK/data

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "mode: $([[ $QUICK == 1 ]] && echo "quick (BENCH_SMALL=1)" || echo full)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "machine: $(nproc) vCPUs, $cpu_model, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -sr); $BUILD; every server and wrk share these cores; $(haproxy -v | head -1 | cut -d' ' -f1-3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "client: wrk -t1 -cN -d${SECS}s with tests/bench/mcp.lua (one tools/call per request, arguments cycling through the seeded paths / queries, every answer checked for a JSON-RPC or tool error); $PRIORITY"
  echo "rounds: $ROUNDS (order of targets reversed every other round); connections: $CONNS"
} >"$OUT/meta.txt"
{
  echo "uptime before: $(uptime)"
  echo "busiest processes before:"; ps -eo pcpu,comm --sort=-pcpu | head -6
} >"$OUT/machine.txt"
say "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------------------
say "corpus: $USERS users × $NOTES notes (seed $SEED), indexed by vaultgate-backend reindex"
BENCH_BIN=$BIN/vaultgate-backend BENCH_PARTS=none BENCH_USERS=$USERS BENCH_NOTES=$NOTES BENCH_SEED=$SEED \
  BENCH_QUERIES=$QUERIES BENCH_DIR=$DATA BENCH_LOAD_DIR=$OUT/load "$BIN/examples/bench" >"$OUT/corpus.md" \
  2>"$WORK/corpus.log" || die "corpus generation or reindex failed (see $OUT/logs/corpus.log)"
corpus=$(grep '^| corpus' "$OUT/corpus.md" | cut -d'|' -f3 | sed 's/^ //; s/ $//')
reindex=$(grep '^| full reindex' "$OUT/corpus.md" | cut -d'|' -f3 | sed 's/^ //; s/ $//')
echo "corpus: $corpus, generated by backend/examples/bench.rs (seed $SEED; 1–3 KiB Markdown notes with front matter, tags and wikilinks); indexed in $reindex; queries: $QUERIES seeded one- and two-word queries, limit 10" >>"$OUT/meta.txt"
FIRST_PATH=$(head -1 "$OUT/load/paths.txt")

# ---------------------------------------------------------------------------------------
say "starting the backend, the gateway and HAProxy-JWT"
backend() { # NAME PORT ADMIN_PORT
  start "$1" env IDENTITY_SECRET="$SECRET_ID" VAULT_BASE_PATH="$DATA/vaults" DATABASE_PATH="$DATA/index.db" \
    USER_MAX_NOTES=1000000 USER_MAX_BYTES=10000000000 BACKEND_LISTEN="127.0.0.1:$2" \
    BACKEND_ADMIN_ADDR="127.0.0.1:$3" RUST_LOG=warn "$BIN/vaultgate-backend"
}
gateway() { # NAME PORT ADMIN_PORT [VAR=VALUE…]
  local name=$1 port=$2 admin=$3; shift 3
  start "$name" env IDENTITY_SECRET="$SECRET_ID" JWT_SECRET_KEY="$SECRET_JWT" PORT="$port" LISTEN_HOST=127.0.0.1 \
    ADMIN_ADDR="127.0.0.1:$admin" BACKEND_URL="http://127.0.0.1:$P_BACKEND" PUBLIC_URL="$ISSUER" GATEWAY_THREADS=1 \
    GATEWAY_STATE_PATH="$WORK/$name.db" RATE_LIMIT_PER_MINUTE=100000000 RATE_LIMIT_BURST=100000000 "$@" \
    "$BIN/vaultgate-gateway"
}
# HAProxy is restarted with a freshly signed assertion before each run (assertions live 60 s).
haproxy_start() {
  stop haproxy
  sed -e "s/@LISTEN@/127.0.0.1:$P_HAPROXY/" -e "s/@UPSTREAM@/127.0.0.1:$P_BACKEND/" -e "s/@SECRET@/$SECRET_JWT/" \
    -e "s/@ASSERTION@/$("$CLIENT" assertion "$SECRET_ID" "$BENCH_USER")/" "$HERE/peers/haproxy-jwt.cfg" \
    >"$WORK/haproxy.cfg"
  start haproxy haproxy -db -f "$WORK/haproxy.cfg"
  "$CLIENT" wait "127.0.0.1:$P_HAPROXY" / 15 || die "HAProxy did not start (see $OUT/logs/haproxy.log)"
}
backend backend "$P_BACKEND" "$P_BACKEND_ADMIN"
"$CLIENT" wait "127.0.0.1:$P_BACKEND" /healthz 30 || die "the backend did not start (see $OUT/logs/backend.log)"
# At start the backend reconciles the index with the 100k files in the background.
wait_idle backend 300
rss_backend_start=$(rss_kib backend)
gateway gateway "$P_GW" "$P_GW_ADMIN"
"$CLIENT" wait "127.0.0.1:$P_GW" /healthz 15 || die "the gateway did not start (see $OUT/logs/gateway.log)"
haproxy_start
TOKEN=$(JWT_SECRET_KEY="$SECRET_JWT" PUBLIC_URL="$ISSUER" "$BIN/vaultgate-gateway" mint-token --user "$BENCH_USER" 2>/dev/null) ||
  die "mint-token failed"
[[ -n $TOKEN ]] || die "mint-token printed nothing"
SESSION=$("$CLIENT" session "127.0.0.1:$P_GW" "$TOKEN") || die "legacy initialize through the gateway failed"

# One checked read_note through every path before measuring: the note must come back.
read_body() { # ARG_NAME VALUE
  printf '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_note","arguments":{"%s":"%s"}}}' "$1" "$2"
}
check_read() { # LABEL ADDR HEADER…
  local label=$1 addr=$2 answer; shift 2
  answer=$("$CLIENT" call "$addr" "$(read_body path "$FIRST_PATH")" "$@") || die "read_note via $label failed"
  grep -q "note-000000" <<<"$answer" && ! grep -q '"isError":true' <<<"$answer" ||
    die "read_note via $label did not return the note: ${answer:0:300}"
}
check_read "the backend" "127.0.0.1:$P_BACKEND" "x-vault-identity=$("$CLIENT" assertion "$SECRET_ID" "$BENCH_USER")" \
  "x-vault-user=$BENCH_USER" mcp-protocol-version=2025-06-18
check_read "the gateway (legacy)" "127.0.0.1:$P_GW" "authorization=Bearer $TOKEN" mcp-protocol-version=2025-06-18 \
  "mcp-session-id=$SESSION"
check_read "HAProxy-JWT" "127.0.0.1:$P_HAPROXY" "authorization=Bearer $TOKEN" mcp-protocol-version=2025-06-18

# ---------------------------------------------------------------------------------------
BM_NOTE="skipped (BENCH_BASIC_MEMORY=0; CI skips it: installing it and indexing takes minutes)"
if [[ $BASIC_MEMORY == 1 ]]; then
  # shellcheck source=tests/bench/basic-memory.sh
  source "$HERE/basic-memory.sh"
  bm_setup || true
fi
echo "basic-memory: $BM_NOTE" >>"$OUT/meta.txt"

# ---------------------------------------------------------------------------------------
# measure ROUND TOOL TARGET CONNS — one wrk run against TARGET; appends a row to e2e.tsv.
RESULTS=$OUT/e2e.tsv
echo -e "# round\ttool\ttarget\tconns\treq_per_s\tp50_us\tp99_us\tload1" >"$RESULTS"
measure() {
  local round=$1 tool=$2 target=$3 conns=$4 url line
  local -a env=(BENCH_TOOL="$tool")
  if [[ $target == basic-memory ]]; then
    env+=(BENCH_ARGS_FILE="$BM_ARGS/$tool.txt" BENCH_ARG="${BM_ARG[$tool]}" BENCH_EXTRA="${BM_EXTRA[$tool]}")
  elif [[ $tool == read_note ]]; then
    env+=(BENCH_ARGS_FILE="$OUT/load/paths.txt" BENCH_ARG=path)
  else
    env+=(BENCH_ARGS_FILE="$OUT/load/queries.txt" BENCH_ARG=query BENCH_EXTRA='"limit":10')
  fi
  case $target in
    backend-direct)
      url=http://127.0.0.1:$P_BACKEND
      env+=(BENCH_AUTH=identity BENCH_ERA=modern BENCH_USER="$BENCH_USER"
        BENCH_IDENTITY="$("$CLIENT" assertion "$SECRET_ID" "$BENCH_USER")") ;;
    gateway-modern) url=http://127.0.0.1:$P_GW; env+=(BENCH_TOKEN="$TOKEN" BENCH_ERA=modern) ;;
    gateway-legacy) url=http://127.0.0.1:$P_GW; env+=(BENCH_TOKEN="$TOKEN" BENCH_ERA=legacy BENCH_SESSION="$SESSION") ;;
    haproxy-jwt) haproxy_start; url=http://127.0.0.1:$P_HAPROXY; env+=(BENCH_TOKEN="$TOKEN" BENCH_ERA=modern) ;;
    basic-memory)
      url=http://127.0.0.1:$P_BM
      # Slow answers are still answers: wrk's default 5 s timeout would count them as errors.
      env+=(BENCH_AUTH=none BENCH_ERA=legacy BENCH_PROTOCOL=2025-06-18 BENCH_SESSION="$BM_SESSION"
        BENCH_WRK_TIMEOUT=60s) ;;
    *) die "unknown target $target" ;;
  esac
  # basic-memory answers a few requests per second: give it long enough for some to complete.
  local secs=$SECS
  [[ $target == basic-memory ]] && secs=$((SECS * 2 > 10 ? SECS * 2 : 10))
  line=$(env "${env[@]}" bash -c 'source "$1"; wrk_result "$2" "$3" "$4" "$5"' _ "$HERE/lib.sh" \
    "$target $tool c$conns" "$secs" "$conns" "$url") || exit 1
  # It keeps working through the requests wrk stopped waiting for: let it finish first.
  [[ $target == basic-memory ]] && wait_idle basic-memory 120
  [[ $round == warmup ]] && return 0
  declare -A r=()
  local kv
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  local rps; rps=$(awk -v n="${r[requests]}" -v d="${r[duration_us]}" 'BEGIN {printf "%.1f", n * 1e6 / d}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$tool" "$target" "$conns" "$rps" "${r[p50_us]}" "${r[p99_us]}" \
    "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"
  say "round $round $tool $target c$conns: $rps req/s, p50 ${r[p50_us]} µs, p99 ${r[p99_us]} µs"
}

TARGETS=(backend-direct gateway-modern gateway-legacy haproxy-jwt)
[[ -n ${BM_SESSION:-} ]] && TARGETS+=(basic-memory)
say "warm-up: every target once, 1 s, 8 connections, not recorded"
for t in "${TARGETS[@]}"; do
  for tool in read_note search_notes; do SECS=1 measure warmup "$tool" "$t" 8; done
done
for ((round = 1; round <= ROUNDS; round++)); do
  order=("${TARGETS[@]}")
  if ((round % 2 == 0)); then
    order=(); for ((i = ${#TARGETS[@]} - 1; i >= 0; i--)); do order+=("${TARGETS[$i]}"); done
  fi
  for tool in read_note search_notes; do
    for c in $CONNS; do
      for t in "${order[@]}"; do measure "$round" "$tool" "$t" "$c"; done
    done
  done
done
rss_backend_after=$(rss_kib backend)
rss_bm=
[[ -n ${BM_SESSION:-} ]] && rss_bm=$(bm_rss)
stop haproxy
stop gateway
[[ -n ${BM_SESSION:-} ]] && stop basic-memory

# ---------------------------------------------------------------------------------------
say "gateway memory: 0 / ${SESSIONS// / / } live legacy sessions (in front of the same backend)"
MEM=$OUT/memory.tsv
echo -e "# process\tcondition\tchart label\trss_kib" >"$MEM"
echo -e "backend\tstarted, index of $corpus opened\tstarted\t$rss_backend_start" >>"$MEM"
echo -e "backend\tafter every run above\tafter the runs\t$rss_backend_after" >>"$MEM"
[[ -n $rss_bm ]] && echo -e "basic-memory\tafter every run above (MCP server process tree)\tafter the runs\t$rss_bm" >>"$MEM"
PER_USER=25
gateway gateway-mem "$P_MEM" "$P_MEM_ADMIN" SESSIONS_PER_USER=$PER_USER SESSION_IDLE_SECS=3600
"$CLIENT" wait "127.0.0.1:$P_MEM" /healthz 15 || die "the gateway (memory run) did not start"
sessions_active() {
  "$CLIENT" get "127.0.0.1:$P_MEM_ADMIN" /metrics | awk '/^vaultgate_gateway_sessions_active / {print $2}'
}
largest=0
for s in $SESSIONS; do ((s > largest)) && largest=$s; done
users_needed=$(((largest + PER_USER - 1) / PER_USER))
# One modern request per user first: token, rate-limit and identity caches then hold every user,
# so what the sessions add is measured on its own.
"$CLIENT" populate "127.0.0.1:$P_MEM" "$SECRET_JWT" "$ISSUER" "$users_needed" 1 16 modern >/dev/null ||
  die "modern warm-up of the memory gateway failed"
echo -e "gateway\t0 sessions ($users_needed users seen)\t0 sessions\t$(rss_kib gateway-mem)" >>"$MEM"
for s in $SESSIONS; do
  # Users 0… each get PER_USER sessions; earlier users keep theirs (the limit per user is PER_USER).
  "$CLIENT" populate "127.0.0.1:$P_MEM" "$SECRET_JWT" "$ISSUER" $(((s + PER_USER - 1) / PER_USER)) "$PER_USER" 16 legacy \
    >/dev/null || die "creating $s legacy sessions failed"
  active=$(sessions_active)
  ((active >= s)) || die "sessions_active is $active, expected at least $s"
  echo -e "gateway\t$active sessions\t$active sessions\t$(rss_kib gateway-mem)" >>"$MEM"
  say "gateway with $active live sessions: $(($(rss_kib gateway-mem) / 1024)) MiB"
done
stop_all

# ---------------------------------------------------------------------------------------
say "search latency by vault size: $SCALE notes per user"
BENCH_BIN=$BIN/vaultgate-backend BENCH_PARTS=growth BENCH_USERS=0 BENCH_SCALE=$SCALE BENCH_SEED=$SEED \
  BENCH_QUERIES=$QUERIES BENCH_DIR=$WORK/growth BENCH_LOAD_DIR=$WORK/growth-load "$BIN/examples/bench" \
  >"$OUT/growth.md" 2>"$WORK/growth.log" || die "the growth measurement failed (see $OUT/logs/growth.log)"
cp "$WORK/growth-load/growth.tsv" "$OUT/growth.tsv"
rm -rf "$WORK/growth" "$DATA"

{
  echo "uptime after: $(uptime)"
  echo "busiest processes after:"; ps -eo pcpu,comm --sort=-pcpu | head -6
} >>"$OUT/machine.txt"
load_before=$(sed -n 's/.*load average: //p' "$OUT/machine.txt" | head -1)
load_after=$(sed -n 's/.*load average: //p' "$OUT/machine.txt" | tail -1)
echo "load: load average (1, 5, 15 min) $load_before before, $load_after after (the benchmark itself keeps ≈ 2 busy)" \
  >>"$OUT/meta.txt"
if awk -v l="${load_before%%,*}" 'BEGIN {exit !(l > 2.5)}'; then
  echo "warning: taken on a loaded machine (load average ${load_before%%,*} when the run started: other work shared the 2 cores), so absolute numbers are low and noisy; compare the targets measured side by side in the same run" >>"$OUT/meta.txt"
fi
"$BIN/bench-report" "$OUT" >/dev/null || die "bench-report failed"
if [[ $DOCS == 1 ]]; then
  cp "$OUT/e2e.md" "$OUT"/e2e-*.svg "$ROOT/docs/bench/"
  say "copied e2e.md and the charts into docs/bench/"
fi
say "report: $OUT/e2e.md"
