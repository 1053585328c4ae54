#!/usr/bin/env bash
# dumperd_layers.sh - the layering rules of server/ (docs/architecture.md, "dumperd"), checked on the source:
# which layer may include which, that SQL stays in store/, HTTP in http/, libcurl in service/deliver.c, that
# no file mixes SQL, HTTP and storage, and that no C file under server/ is over 800 lines. It reads files
# only (no build, no services); each violation is one line naming the file.
. "$(dirname "$0")/../lib/common.sh"
cd "$DUMPER_SRC/server"
bad=0
violation() { echo "FAIL [$TEST_NAME]: $*" >&2; bad=1; }

# forbid LAYER PATTERN WHY: no file of LAYER has a line matching PATTERN (extended regexp).
forbid() {
  local layer=$1 pat=$2 why=$3 hits
  hits=$(grep -nE "$pat" "$layer"/*.[ch] 2>/dev/null || true)
  [ -z "$hits" ] || while IFS= read -r h; do violation "$why: $h"; done <<<"$hits"
}

inc() { echo "^#include [<\"]($1)"; }
# domain: pure policy, no I/O; nothing above it.
forbid domain "$(inc 'config/|store/|service/|http/|cli/|microhttpd|curl/|sqlite3|libpq|cjson/|storage/|job/')" \
  "domain/ is pure policy"
# config: plain values.
forbid config "$(inc 'domain/|store/|service/|http/|cli/|microhttpd|curl/|sqlite3|libpq|storage/')" \
  "config/ holds values only"
# store: SQL only, C structs out: no configuration, no services, no HTTP, no storage, no JSON.
forbid store "$(inc 'config/|service/|http/|cli/|microhttpd|curl/|storage/|job/|cjson/')" \
  "store/ is SQL only"
forbid store 'sd_status|\bsd_fail(_code)?\(|MHD_HTTP|[^0-9](40[0-9]|41[0-9]|42[0-9]|50[0-9])[^0-9]' "store/ knows no outcomes or HTTP codes"
# service: no HTTP, no command line.
forbid service "$(inc 'http/|cli/|microhttpd')" "service/ knows no HTTP"
# http: calls services, never the store or SQL (it may name the store's row types).
forbid http "$(inc 'cli/|sqlite3|libpq|curl/|storage/')" "http/ goes through the services"
forbid http '\bsd_(store_[a-z_]+|q|exec|txn_begin|rows)\(' "http/ calls no store function"
forbid http '\bdp_storage_[a-z_]+\(' "http/ reads storage through service/download.c"
# cli: services and the JSON views only.
forbid cli '\bsd_(store_[a-z_]+|q|exec|rows)\(' "cli/ calls no store function"
forbid cli "$(inc 'microhttpd|sqlite3|libpq|curl/')" "cli/ is the command line only"
# SQL text only in store/.
for f in config/*.[ch] domain/*.[ch] service/*.[ch] http/*.[ch] cli/*.[ch] main.c; do
  if grep -nE '"(SELECT|INSERT|UPDATE|DELETE|CREATE) ' "$f" >/dev/null; then violation "SQL outside store/: $f"; fi
done
# one libcurl caller
for f in $(grep -lE '\bcurl_easy_init\b' -r . --include=*.c); do
  [ "$f" = ./service/deliver.c ] || violation "libcurl outside service/deliver.c: $f"
done
# no file mixes SQL, HTTP and storage
for f in */*.c main.c; do
  s=0 h=0 t=0
  grep -qE '\bsd_(q|exec|rows)\(|sqlite3_|PQexec' "$f" && s=1
  grep -qE '\bMHD_' "$f" && h=1
  grep -qE '\bdp_storage_[a-z_]+\(' "$f" && t=1
  [ $((s + h + t)) -le 1 ] || violation "$f mixes SQL ($s), HTTP ($h) and storage ($t)"
done
# size
while read -r n f; do
  [ "$f" = total ] || [ "$n" -le 800 ] || violation "$f has $n lines (at most 800)"
done < <(wc -l */*.c main.c)
[ $bad = 0 ] || exit 1
echo "dumperd layers: ok ($(ls */*.c main.c | wc -l) C files)"
