# basic-memory for tests/bench/run.sh (sourced, not run): installs the pinned basic-memory into a
# venv under target/, copies the first BENCH_BM_NOTES notes of one vault of the corpus into a
# basic-memory project, lets basic-memory index them, starts its MCP server over streamable HTTP
# and opens a session. Sets BM_SESSION, BM_ARGS, BM_ARG, BM_EXTRA and BM_NOTE; bm_setup returns
# non-zero (with BM_NOTE saying why) when basic-memory cannot be measured.
#
# basic-memory indexes about 2–5 notes per second on this 2-core machine, so its index is kept
# between runs in target/bench/basic-memory-index/<hash of the copied notes>/ and rebuilt only
# when the notes differ. Its HOME is that folder: nothing outside it is touched.

# The first Python ≥ 3.12 found: BENCH_PYTHON, python3.12 / 3.13 on PATH, or under pyenv.
bm_python() {
  local p
  for p in ${BENCH_PYTHON:-} python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3.1[2-9]; do
    [[ -n $p ]] || continue
    command -v "$p" >/dev/null 2>&1 || continue
    "$p" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { command -v "$p"; return 0; }
  done
  return 1
}

bm_setup() {
  local py venv=$ROOT/target/bench/basic-memory-venv n=${BENCH_BM_NOTES:-1000} src=$DATA/vaults/$BENCH_USER
  py=$(bm_python) || { BM_NOTE="not measured: no Python ≥ 3.12 on this machine (basic-memory $BM_VERSION needs one)"; return 1; }
  if ! "$venv/bin/basic-memory" --version 2>/dev/null | grep -q "$BM_VERSION"; then
    say "installing basic-memory $BM_VERSION into $venv (PyPI)"
    rm -rf "$venv"
    { "$py" -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check "basic-memory==$BM_VERSION"; } \
      >"$WORK/bm-install.log" 2>&1 || { BM_NOTE="not measured: pip install basic-memory==$BM_VERSION failed"; return 1; }
  fi
  ((n > NOTES)) && n=$NOTES
  head -n "$n" "$OUT/load/paths.txt" >"$OUT/load/bm-paths.txt"
  local hash cache
  hash=$( (cd "$src" && xargs cat <"$OUT/load/bm-paths.txt") | sha256sum | cut -c1-16)
  cache=$ROOT/target/bench/basic-memory-index/$hash
  if [[ ! -f $cache/indexed-secs ]]; then
    say "basic-memory: indexing $n notes of $BENCH_USER's vault (once; kept in $cache)"
    rm -rf "$cache" && mkdir -p "$cache/home" "$cache/notes"
    (cd "$src" && xargs cp --parents -t "$cache/notes" <"$OUT/load/bm-paths.txt")
    local t0=$SECONDS
    HOME=$cache/home timeout 3600 "$venv/bin/basic-memory" project add bench "$cache/notes" --default \
      >"$WORK/bm-index.log" 2>&1 || { BM_NOTE="not measured: basic-memory could not index the notes"; return 1; }
    grep -q "$n indexed" "$WORK/bm-index.log" || { BM_NOTE="not measured: basic-memory indexed fewer than $n notes"; return 1; }
    echo $((SECONDS - t0)) >"$cache/indexed-secs"
  fi
  say "basic-memory: starting its MCP server (streamable HTTP)"
  start basic-memory env HOME="$cache/home" "$venv/bin/basic-memory" mcp --transport streamable-http \
    --host 127.0.0.1 --port "$P_BM" --project bench
  "$CLIENT" wait "127.0.0.1:$P_BM" /mcp 180 || { BM_NOTE="not measured: its MCP server did not start"; return 1; }
  BM_SESSION=$("$CLIENT" open-session "127.0.0.1:$P_BM") || { BM_NOTE="not measured: initialize failed"; return 1; }
  # Its start-up reconciles the project with the disk in the background.
  wait_idle basic-memory 180
  local answer
  answer=$("$CLIENT" call "127.0.0.1:$P_BM" "$(read_body identifier "$FIRST_PATH")" mcp-protocol-version=2025-06-18 \
    "mcp-session-id=$BM_SESSION") || { BM_NOTE="not measured: read_note failed"; return 1; }
  grep -q "$(sed -n 's/^# //p' "$src/$FIRST_PATH" | head -1)" <<<"$answer" ||
    { BM_NOTE="not measured: read_note did not return the note: ${answer:0:200}"; return 1; }
  BM_ARGS=$OUT/load/bm
  mkdir -p "$BM_ARGS"
  cp "$OUT/load/bm-paths.txt" "$BM_ARGS/read_note.txt"
  cp "$OUT/load/queries.txt" "$BM_ARGS/search_notes.txt"
  declare -gA BM_ARG=([read_note]=identifier [search_notes]=query)
  declare -gA BM_EXTRA=([read_note]="" [search_notes]='"page_size":10')
  BM_NOTE="basic-memory $BM_VERSION ($("$py" --version 2>&1), keyword search: its semantic search needs SQLite extension loading, which this Python lacks), over streamable HTTP with a session; its project holds the first $n notes of $BENCH_USER's vault (ours: all $NOTES per user, $USERS users), indexed by \`basic-memory project add\` in $(cat "$cache/indexed-secs") s (index kept between runs); read_note by path, search_notes with page_size 10"
}

# VmRSS of basic-memory's MCP server and its children, in KiB.
bm_rss() {
  local p sum=0 k
  for p in $(tree_pids "$(main_pid basic-memory)"); do
    k=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null) || k=0
    sum=$((sum + ${k:-0}))
  done
  echo "$sum"
}
