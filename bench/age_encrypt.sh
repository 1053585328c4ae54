#!/usr/bin/env bash
# bench/age_encrypt.sh - the cost of age encryption: the same SQLite backup with and without
# --recipient, zstd (the default) and --compress none, then verify with the identity (authenticate,
# decrypt, decompress) next to verify of the plain backup. Every configuration runs ROUNDS times,
# interleaved, page cache dropped before each; the table shows medians of wall and CPU time and the
# peak RSS (/usr/bin/time -v). Fails if an encrypted backup's peak RSS reaches 64 MiB.
#
#   bench/age_encrypt.sh [--size-mb N] [--rounds R]
#
# Env: DUMPER_BIN (default build/bin), BENCH_DIR (default /tmp/dumper-bench-age; the generated
# database is reused when its size matches). Prints a Markdown table for bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=512 ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "usage: $0 [--size-mb N] [--rounds R]" >&2; exit 2 ;;
  esac
done
DUMPER_BIN=${DUMPER_BIN:-build/bin}
DUMPER="$DUMPER_BIN/dumper"
[ -x "$DUMPER" ] || { echo "build first: $DUMPER missing" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 missing (scripts/install-deps.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (scripts/install-deps.sh)" >&2; exit 1; }

BENCH_DIR=${BENCH_DIR:-/tmp/dumper-bench-age}
mkdir -p "$BENCH_DIR"
DB="$BENCH_DIR/bench-${SIZE_MB}mb.db"
OUT="$BENCH_DIR/out"
# one table: half JSON-ish text (compresses), half random bytes (does not)
if [ ! -f "$DB" ]; then
  rows=$((SIZE_MB * 3300))
  echo "generating $DB (~${SIZE_MB} MB)..." >&2
  sqlite3 "$DB.tmp" >/dev/null <<SQL
PRAGMA journal_mode=OFF;
PRAGMA synchronous=OFF;
CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT, payload TEXT, blob BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO events SELECT i, CASE i % 3 WHEN 0 THEN 'login' WHEN 1 THEN 'view' ELSE 'buy' END,
  '{"page":"/products/' || (i % 977) || '","ref":"' || hex(randomblob(8)) || '","agent":"Mozilla/5.0","n":' || i || '}',
  randomblob(200) FROM n;
SQL
  mv "$DB.tmp" "$DB"
fi
DB_BYTES=$(stat -c %s "$DB")
rm -f "$BENCH_DIR/id.key"
R=$("$DUMPER" keygen --out "$BENCH_DIR/id.key")

# run LABEL cmd...: appends "wall cpu rss_kib" to $BENCH_DIR/LABEL.runs
run() {
  local label=$1; shift
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -v -o "$BENCH_DIR/t" "$@"
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; w=s}
              /User time|System time/ {c += $2} /Maximum resident set size/ {r=$2}
              END {printf "%.2f %.2f %d\n", w, c, r}' "$BENCH_DIR/t" >>"$BENCH_DIR/$label.runs"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
col() { awk -v c="$2" '{print $c}' "$BENCH_DIR/$1.runs" | median; }

labels="zstd zstd_age none none_age verify_zstd verify_zstd_age verify_none verify_none_age"
for l in $labels; do rm -f "$BENCH_DIR/$l.runs"; done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$ROUNDS"); do
  rm -rf "$OUT"; mkdir -p "$OUT"
  run zstd sh -c "'$DUMPER' backup 'sqlite://$DB' --to '$OUT/p' --json > '$BENCH_DIR/p.json'"
  run zstd_age sh -c "'$DUMPER' backup 'sqlite://$DB' --to '$OUT/e' --recipient '$R' --json > '$BENCH_DIR/e.json'"
  run none sh -c "'$DUMPER' backup 'sqlite://$DB' --to '$OUT/pn' --compress none --json > '$BENCH_DIR/pn.json'"
  run none_age sh -c "'$DUMPER' backup 'sqlite://$DB' --to '$OUT/en' --compress none --recipient '$R' --json > '$BENCH_DIR/en.json'"
  path() { sed -n 's/.*"path":"\([^"]*\)".*/\1/p' "$BENCH_DIR/$1.json"; }
  run verify_zstd sh -c "'$DUMPER' verify '$(path p)' > /dev/null"
  run verify_zstd_age sh -c "'$DUMPER' verify '$(path e)' --identity '$BENCH_DIR/id.key' > /dev/null"
  # without compression: sha256 alone against sha256 + decryption of the whole dump
  run verify_none sh -c "'$DUMPER' verify '$(path pn)' > /dev/null"
  run verify_none_age sh -c "'$DUMPER' verify '$(path en)' --identity '$BENCH_DIR/id.key' > /dev/null"
done
raw=$(sed -n 's/.*"raw_size":\([0-9]*\).*/\1/p' "$BENCH_DIR/p.json")
psize=$(sed -n 's/.*"size":\([0-9]*\).*/\1/p' "$BENCH_DIR/p.json")
esize=$(sed -n 's/.*"size":\([0-9]*\).*/\1/p' "$BENCH_DIR/e.json")
rm -rf "$OUT"

mib() { awk -v b="$1" 'BEGIN {printf "%.0f", b / 1048576}'; }
row() { # row LABEL TEXT
  local w c r; w=$(col "$1" 1); c=$(col "$1" 2); r=$(col "$1" 3)
  printf '| %s | %s | %s | %s | %s |\n' "$2" "$w" "$c" "$(awk -v b="$DB_BYTES" -v s="$w" 'BEGIN {printf "%.0f", (s > 0 ? b / 1048576 / s : 0)}')" \
    "$(awk -v k="$r" 'BEGIN {printf "%.1f", k / 1024}')"
}
ratio() { awk -v a="$(col "$1" "$3")" -v b="$(col "$2" "$3")" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
cat <<TXT
date: $(date -u +%Y-%m-%dT%H:%M:%SZ)
machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
load before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg); $("$DUMPER" --version), $(openssl version)
database: $(mib "$DB_BYTES") MiB; dump text: $(mib "$raw") MiB; zstd backup: $(mib "$psize") MiB, encrypted: $(mib "$esize") MiB ($((esize - psize)) bytes more)
medians of $ROUNDS runs each, interleaved

| command | wall s | CPU s (user+sys) | MiB/s (db size / wall) | peak RSS MiB |
|---|---|---|---|---|
$(row zstd "dumper backup (zstd -3, default)")
$(row zstd_age "dumper backup --recipient (zstd -3 + age)")
$(row none "dumper backup --compress none")
$(row none_age "dumper backup --compress none --recipient (age only)")
$(row verify_zstd "dumper verify (sha256 + unzstd)")
$(row verify_zstd_age "dumper verify --identity (sha256 + age + unzstd)")
$(row verify_none "dumper verify, --compress none backup (sha256)")
$(row verify_none_age "dumper verify --identity, --compress none backup (sha256 + age)")

encryption cost, zstd: wall $(ratio zstd_age zstd 1)x, CPU $(ratio zstd_age zstd 2)x; without compression: wall $(ratio none_age none 1)x, CPU $(ratio none_age none 2)x
decryption of the $(mib "$raw") MiB dump (verify none_age - verify none): $(awk -v a="$(col verify_none_age 2)" -v b="$(col verify_none 2)" 'BEGIN {printf "%.2f", a - b}') s CPU
openssl speed -evp chacha20-poly1305 (16 KiB blocks, one core): $(openssl speed -seconds 2 -bytes 16384 -evp chacha20-poly1305 2>/dev/null | awk '/^ChaCha20-Poly1305|^chacha20-poly1305/ {print $NF}') (1000s of bytes per second)
CPU of encryption alone (none_age - none): $(awk -v a="$(col none_age 2)" -v b="$(col none 2)" 'BEGIN {printf "%.2f", a - b}') s for $(mib "$raw") MiB; of compression (zstd - none): $(awk -v a="$(col zstd 2)" -v b="$(col none 2)" 'BEGIN {printf "%.2f", a - b}') s
TXT
for l in zstd_age none_age verify_zstd_age; do
  if [ "$(col "$l" 3)" -ge $((64 * 1024)) ]; then echo "FAIL: $l peak RSS $(col "$l" 3) KiB >= 64 MiB" >&2; exit 1; fi
done
