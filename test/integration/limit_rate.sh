#!/usr/bin/env bash
# limit_rate.sh - `dumper backup --limit-rate RATE` caps what is written to storage: a real backup of
# ~3 MB at 1M takes at least its size / rate (less the 50 ms burst allowance), and while it runs the
# partial file never holds more than rate x elapsed (+ the allowance): smooth, not bursts. The result
# verifies and restores equal. Rates at and past their bounds: 0, 1 (accepted; a backup at 1 B/s is
# interrupted cleanly: exit 17, nothing left), the maximum 1T, overflow, bad suffixes: one line, exit 2.
. "$(dirname "$0")/../lib/common.sh"

usage() { # usage RATE LINE: exit 2 with exactly that line
  expect_fail 2 "--limit-rate '$1'" "$DUMPER" backup "sqlite://$T/x.db" --to "$T/never" --limit-rate "$1"
  [ "$(cat "$T/err")" = "dumper backup: $2 (see 'dumper backup --help')" ] || fail "--limit-rate '$1': $(cat "$T/err")"
  [ ! -e "$T/never" ] || fail "--limit-rate '$1' created the backup directory"
}
fmt="expected bytes per second, a whole number with an optional K, M, G or T suffix (e.g. 500K, 10M)"
usage 0 "invalid --limit-rate '0': the rate must be at least 1 byte per second (leave it out for no limit)"
usage 0K "invalid --limit-rate '0K': the rate must be at least 1 byte per second (leave it out for no limit)"
usage 2T "invalid --limit-rate '2T': more than the maximum of 1T (1 TiB/s)"
usage 1099511627777 "invalid --limit-rate '1099511627777': more than the maximum of 1T (1 TiB/s)"
usage 18446744073709551616 "invalid --limit-rate '18446744073709551616': more than the maximum of 1T (1 TiB/s)"
for bad in 10MB 1.5M -1 "" K 10X " 1"; do usage "$bad" "invalid --limit-rate '$bad': $fmt"; done
expect_fail 2 "--limit-rate without a value" "$DUMPER" backup "sqlite://$T/x.db" --to "$T/never" --limit-rate

# ~2.9 MB of random bytes, dumped as hex: ~3 MB stored (zstd takes the hex text back to about the bytes)
sqlite3 "$T/x.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB);
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2900)
  INSERT INTO t SELECT i, randomblob(1000) FROM c;"

# the maximum rate is accepted and changes nothing measurable
check "backup at the maximum rate" "$DUMPER" backup "sqlite://$T/x.db" --to "$T/max" --limit-rate 1T >/dev/null

# 1M: at least size / rate, and never ahead of the rate while it runs
RATE=1048576
t0=$(date +%s%N)
"$DUMPER" backup "sqlite://$T/x.db" --to "$T/b" --limit-rate 1M --json >"$T/b.json" 2>"$T/b.err" &
bpid=$!
samples=0
while kill -0 $bpid 2>/dev/null; do
  for f in "$T"/b/.*partial*; do
    [ -f "$f" ] || continue
    size=$(stat -c %s "$f" 2>/dev/null) || continue
    now=$(date +%s%N)
    # bytes written so far <= rate x time since launch + 50 ms of burst + one 64 KiB write of slack
    allowed=$(( RATE * (now - t0) / 1000000000 + RATE / 20 + 65536 ))
    [ "$size" -le "$allowed" ] || fail "$size bytes written $(( (now - t0) / 1000000 )) ms after launch (at most $allowed at 1M)"
    samples=$((samples + 1))
  done
  sleep 0.1
done
wait $bpid || { cat "$T/b.err" >&2; fail "backup at 1M failed"; }
t1=$(date +%s%N)
size=$(jq -r .size "$T/b.json")
elapsed_ms=$(( (t1 - t0) / 1000000 ))
min_ms=$(( size * 1000 / RATE - 50 ))
note "$size bytes at 1M in $elapsed_ms ms (at least $min_ms ms), $samples samples of the partial file"
[ "$size" -ge 2500000 ] || fail "the backup is too small to measure a rate ($size bytes)"
[ "$elapsed_ms" -ge "$min_ms" ] || fail "$size bytes at 1M took $elapsed_ms ms, expected at least $min_ms ms"
[ "$samples" -ge 5 ] || fail "the partial file was sampled only $samples times"
quiet_check "verify the throttled backup" "$DUMPER" verify "$(jq -r .path "$T/b.json")"
check "restore the throttled backup" "$DUMPER" restore "$(jq -r .path "$T/b.json")" "sqlite://$T/r.db" 2>/dev/null
[ "$(sqlite3 "$T/r.db" .dump)" = "$(sqlite3 "$T/x.db" .dump)" ] || fail "restored database differs"

# 1 byte per second is accepted; SIGTERM while the throttle sleeps: exit 17, one line, nothing left
"$DUMPER" backup "sqlite://$T/x.db" --to "$T/slow" --limit-rate 1 >"$T/slow.out" 2>"$T/slow.err" &
spid=$!
for _ in $(seq 1 100); do compgen -G "$T/slow/.*partial*" >/dev/null && break; sleep 0.05; done
compgen -G "$T/slow/.*partial*" >/dev/null || fail "the backup at 1 B/s never started writing"
kill -TERM $spid
rc=0; wait $spid || rc=$?
[ "$rc" = 17 ] || { cat "$T/slow.err" >&2; fail "interrupted backup at 1 B/s: exit $rc, expected 17"; }
[ "$(wc -l <"$T/slow.err")" = 1 ] || { cat "$T/slow.err" >&2; fail "expected one error line"; }
[ -z "$(ls -A "$T/slow")" ] || fail "the interrupted backup left $(ls -A "$T/slow")"
exit 0
