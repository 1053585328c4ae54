# bench/lib.sh - what the backup benchmarks share (sourced, not run).
#
#   bench_measure LABEL CMD...   run CMD under /usr/bin/time -v (stdout discarded; a failure stops the
#                                benchmark with its stderr) and append one line to $BENCH_RESULTS:
#                                "LABEL wall_s cpu_s rss_kib load1" (load1: the 1-minute load average
#                                just before the run: the machine is shared, every figure carries it);
#                                BENCH_NICE=N runs CMD under `nice -n N` (the baselines and dumper alike:
#                                a fair comparison for the agent's polite default, nice 10)
#   bench_summary BASE [BASE2]   one Markdown table row per label, in first-run order: runs, median
#                                wall, min-max, median CPU (user+sys of the command and its waited-for
#                                children), peak RSS (the largest process of the tree), median load,
#                                the ratio of the median wall to label BASE's (and BASE2's), and the
#                                median of the per-round ratios (the Nth run of a label against the Nth
#                                of BASE, measured next to it: on a shared machine whose load swings
#                                between rounds, the steadier figure)
#   bench_header                 date, machine, load: the lines every recorded result starts with
#   bench_dumper_backup URL      `dumper backup URL` measured as "dumper"; the backup and its manifest
#                                are kept as $BENCH_BACKUP (the previous one removed), its size in
#                                $BENCH_BACKUP_SIZE
#   bench_variants URL           one `dumper backup URL` per BENCH_VARIANTS entry: ';'-separated
#                                "label|ENV=V ...|args", e.g. 'level3||--level 3;single|DUMPER_PIPELINE=0|'
#   bench_load_start N           N busy loops (pure user-space `while :; do :; done`), each in a session of
#                                its own (its own scheduler autogroup, like another user's job: with
#                                autogroup on, the kernel shares the CPU between sessions first), for at
#                                most an hour; bench_load_stop ends them (by pid). A load the run can
#                                repeat, on top of whatever else runs on the machine.
#
# Needs BENCH_RESULTS (a file), BENCH_TMP (a directory) and DUMPER set by the caller.

bench_measure() {
  local label=$1; shift
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  local -a nice=()
  [ -z "${BENCH_NICE:-}" ] || nice=(nice -n "$BENCH_NICE")
  if ! /usr/bin/time -v -o "$BENCH_TMP/time" "${nice[@]}" "$@" >/dev/null 2>"$BENCH_TMP/stderr"; then
    cat "$BENCH_TMP/stderr" >&2
    echo "bench: $label failed" >&2
    exit 1
  fi
  awk -F': ' -v label="$label" -v ld="$load" '
    /Elapsed \(wall clock\)/ { n = split($2, a, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + a[i] }
    /User time|System time/ { c += $2 }
    /Maximum resident set size/ { r = $2 }
    END { printf "%s %.2f %.2f %d %s\n", label, w, c, r, ld }' "$BENCH_TMP/time" | tee -a "$BENCH_RESULTS" >&2
}

bench_summary() {
  local base=$1 base2=${2:-}
  if [ -n "$base2" ]; then
    echo "| command | runs | median wall s | min-max wall s | median CPU s | peak RSS MiB | median load | / $base | / $base2 | / $base per round | / $base2 per round |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
  else
    echo "| command | runs | median wall s | min-max wall s | median CPU s | peak RSS MiB | median load | / $base | / $base per round |"
    echo "|---|---|---|---|---|---|---|---|---|"
  fi
  awk -v base="$base" -v base2="$base2" '
    function median(arr, n,    i, j, t, b) {
      for (i = 1; i <= n; i++) b[i] = arr[i]
      for (i = 2; i <= n; i++) { t = b[i]; for (j = i - 1; j >= 1 && b[j] > t; j--) b[j + 1] = b[j]; b[j + 1] = t }
      return (n % 2) ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
    }
    function per_round(l, b,    j, n, r) {
      n = 0
      for (j = 1; j <= cnt[l] && j <= cnt[b]; j++) if (W[b, j] > 0) r[++n] = W[l, j] / W[b, j]
      return n ? median(r, n) : 0
    }
    {
      l = $1
      if (!(l in cnt)) { order[++k] = l; lo[l] = $2; hi[l] = $2 }
      c = ++cnt[l]
      W[l, c] = $2; C[l, c] = $3; L[l, c] = $5
      if ($2 < lo[l]) lo[l] = $2
      if ($2 > hi[l]) hi[l] = $2
      if ($4 > rss[l]) rss[l] = $4
    }
    END {
      for (i = 1; i <= k; i++) {
        l = order[i]; n = cnt[l]
        for (j = 1; j <= n; j++) { w[j] = W[l, j]; cp[j] = C[l, j]; ld[j] = L[l, j] }
        mw[l] = median(w, n); mc[l] = median(cp, n); ml[l] = median(ld, n)
      }
      for (i = 1; i <= k; i++) {
        l = order[i]
        printf "| %s | %d | %.2f | %.2f-%.2f | %.2f | %.1f | %.1f | %.2fx |", l, cnt[l], mw[l], lo[l], hi[l], mc[l], rss[l] / 1024, ml[l], (mw[base] > 0 ? mw[l] / mw[base] : 0)
        if (base2 != "") printf " %.2fx |", (mw[base2] > 0 ? mw[l] / mw[base2] : 0)
        printf " %.2fx |", per_round(l, base)
        if (base2 != "") printf " %.2fx |", per_round(l, base2)
        printf "\n"
      }
    }' "$BENCH_RESULTS"
}

bench_header() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(uname -srm), $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo); shared with other jobs"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)${BENCH_NICE:+; every measured command under nice -n $BENCH_NICE}"
}

bench_dumper_backup() {
  rm -rf "$BENCH_TMP/out"
  bench_measure dumper "$DUMPER" backup "$1" --to "$BENCH_TMP/out"
  rm -f "${BENCH_BACKUP:-}" "${BENCH_BACKUP:-}.json"
  BENCH_BACKUP=$BENCH_TMP/$(basename "$(ls "$BENCH_TMP"/out/*.zst)")
  mv "$BENCH_TMP"/out/*.zst "$BENCH_BACKUP"
  mv "$BENCH_TMP"/out/*.json "$BENCH_BACKUP.json"
  BENCH_BACKUP_SIZE=$(stat -c %s "$BENCH_BACKUP")
}

bench_variants() {
  local v label envs args
  local -a variants=()
  IFS=';' read -r -a variants <<<"${BENCH_VARIANTS:-}"
  for v in "${variants[@]}"; do
    [ -n "$v" ] || continue
    IFS='|' read -r label envs args <<<"$v"
    rm -rf "$BENCH_TMP/out"
    # shellcheck disable=SC2086
    bench_measure "$label" env $envs "$DUMPER" backup "$1" --to "$BENCH_TMP/out" $args
  done
}

BENCH_LOAD_PIDS=()
bench_load_start() {
  local i
  for i in $(seq 1 "$1"); do
    setsid timeout 3600 sh -c 'while :; do :; done' &
    BENCH_LOAD_PIDS+=($!)
  done
}

bench_load_stop() {
  [ "${#BENCH_LOAD_PIDS[@]}" -eq 0 ] || kill "${BENCH_LOAD_PIDS[@]}" 2>/dev/null || true
  BENCH_LOAD_PIDS=()
}
