# Shell helpers shared by tests/bench/gateway.sh, run.sh and stores.sh (sourced, not run).
# The sourcing script sets WORK (a scratch directory for logs) and MAX_LIFE (seconds) first.

say() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

declare -A PID=()

# start NAME COMMAND… — runs COMMAND in the background, bounded by MAX_LIFE, logging to $WORK/NAME.log.
start() {
  local name=$1; shift
  timeout -s INT -k 5 "$MAX_LIFE" "$@" >"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
}
# stop NAME… — stops started processes: SIGINT, then SIGTERM to their whole process trees (a
# program started in the background of a script ignores SIGINT), then SIGKILL to what is left.
stop() {
  local name pids=() p
  for name in "$@"; do [[ -n ${PID[$name]:-} ]] && pids+=("${PID[$name]}"); done
  ((${#pids[@]})) || return 0
  local tree; tree=$(for p in "${pids[@]}"; do tree_pids "$p"; done)
  kill -INT "${pids[@]}" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.2
  done
  # shellcheck disable=SC2086
  kill -TERM $tree 2>/dev/null || true
  sleep 0.3
  # shellcheck disable=SC2086
  kill -KILL $tree 2>/dev/null || true
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for name in "$@"; do unset "PID[$name]"; done
}
stop_all() { stop "${!PID[@]}"; }
# finish RC — every bench script's exit: stop what it started, keep the logs in $OUT/logs,
# remove $WORK, and say how it ended.
finish() {
  local rc=$1
  stop_all
  mkdir -p "$OUT/logs" && cp "$WORK"/*.log "$OUT/logs/" 2>/dev/null || true
  rm -rf "$WORK"
  if [[ $rc == 0 ]]; then say "done; results in $OUT"; else say "exit $rc; logs in $OUT/logs"; fi
}
# The real process under `timeout` (for /proc figures), and its whole tree.
main_pid() { pgrep -P "${PID[$1]}" | head -1; }
tree_pids() { local p; echo "$1"; for p in $(pgrep -P "$1"); do tree_pids "$p"; done; }
# CPU (user + system) of a started process and its children, in clock ticks.
cpu_ticks() {
  local p sum=0 t
  for p in $(tree_pids "${PID[$1]}"); do
    t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}
# wait_idle NAME SECS — waits until a started process uses under 5 % of a core over 2 s (for at
# most SECS), so background work (start-up reconciliation, a backlog of answers to requests wrk
# gave up on) does not land in the next measurement.
wait_idle() {
  local c0 c1 waited=0
  while ((waited < $2)); do
    c0=$(cpu_ticks "$1"); sleep 2; c1=$(cpu_ticks "$1"); waited=$((waited + 2))
    (((c1 - c0) * 100 < 2 * CLK_TCK * 5)) && return 0
  done
  say "$1 still busy after $2 s"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$(main_pid "$1")/status"; }
CLK_TCK=$(getconf CLK_TCK)

# Runs the benchmark ahead of other work on the machine (compilers, other tests) when allowed:
# every process started afterwards inherits this priority. Sets PRIORITY for the record.
prioritize() {
  local nice=${BENCH_NICE:--10}
  if [[ $nice != 0 ]] && renice -n "$nice" -p $$ >/dev/null 2>&1; then PRIORITY="nice $nice"; else PRIORITY="nice 0"; fi
}

# wrk_result TARGET SECS CONNS URL — one `wrk -t1` run with tests/bench/mcp.lua (configured by
# the BENCH_* variables in the environment; BENCH_WRK_TIMEOUT is wrk's --timeout, 5s by default);
# prints its RESULT line. Dies when wrk fails, a
# request fails (connection, status, timeout, JSON-RPC or tool error) or none completes.
wrk_result() {
  local target=$1 secs=$2 conns=$3 url=$4 out line kv
  out=$(timeout $((secs + 90)) wrk -t1 -c"$conns" -d"${secs}s" --timeout "${BENCH_WRK_TIMEOUT:-5s}" -s "$BENCH_LIB_DIR/mcp.lua" "$url" 2>&1) ||
    die "wrk against $target failed: $out"
  line=$(grep '^RESULT' <<<"$out") || die "wrk printed no result for $target: $out"
  declare -A r=()
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  local errors=$((r[errors_connect] + r[errors_read] + r[errors_write] + r[errors_status] + r[errors_timeout] + ${r[errors_mcp]:-0}))
  ((errors == 0)) || die "$target: $errors of ${r[requests]} requests failed ($line) $(grep -v '^RESULT' <<<"$out" | grep -i error | head -3)"
  ((r[requests] > 0)) || die "$target: no requests completed"
  echo "$line"
}
BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
