# test/lib/plant.sh - planted backups: what anyone holding an app key can upload. Source after
# common.sh.
#
#   plant DIR NAME SOURCE_TYPE FORMAT < CONTENT    -> prints the backup's path
#   tree_state DIR...                              files under the directories, with their sha256
#   restore_refused CODE NAME "message part" BACKUP TARGET [options]
#                                                  the restore exits CODE with one stderr line holding
#                                                  the message part, and the test's own `state`
#                                                  function (files, databases, the target: what must
#                                                  not change) prints the same before and after
#                                                  (before: $STATE_BEFORE when set, to spare a slow
#                                                  state function a call)
#
# Writes DIR/NAME-<UTC stamp>.FORMAT.zst (the content compressed with the real zstd) and a manifest
# beside it whose size, raw_size and sha256 match, exactly as `dumper backup` (or dumperd after an
# upload) would: nothing in the manifest tells a planted backup from a good one. The stamp has the
# current millisecond: give each call its own NAME.
plant() {
  local dir=$1 name=$2 type=$3 format=$4 raw ms stamp key size sha
  mkdir -p "$dir"
  raw=$(mktemp "$dir/.plant.XXXXXX")
  cat >"$raw"
  ms=$(date +%s%3N)
  stamp=$(date -u -d "@$((ms / 1000))" +%Y%m%dT%H%M%S).$(printf %03d $((ms % 1000)))Z
  key="$name-$stamp.$format.zst"
  zstd -q -c "$raw" >"$dir/$key"
  size=$(stat -c %s "$dir/$key")
  sha=$(sha256sum "$dir/$key" | cut -d' ' -f1)
  printf '{"dumper_manifest": 1, "name": "%s", "source_type": "%s", "format": "%s", "compression": "zstd", ' \
    "$key" "$type" "$format" >"$dir/$key.json"
  printf '"size": %s, "raw_size": %s, "sha256": "%s", "created_at": "%s", "created_ms": %s, "duration_ms": 1, ' \
    "$size" "$(stat -c %s "$raw")" "$sha" "$(date -u -d "@$((ms / 1000))" +%Y-%m-%dT%H:%M:%SZ)" "$ms" >>"$dir/$key.json"
  printf '"dumper_version": "0.1.0", "database": "%s://planted"}\n' "$type" >>"$dir/$key.json"
  rm -f "$raw"
  echo "$dir/$key"
}

# tree_state DIR...: one line per file under the directories (path, size, sha256), sorted; two
# calls compare equal when nothing was created, removed or changed there.
tree_state() {
  local d
  for d in "$@"; do
    [ -e "$d" ] || { echo "missing $d"; continue; }
    find "$d" -xdev \( -type f -o -type l \) -printf '%p %s\n' 2>/dev/null | sort
    find "$d" -xdev -type f -print0 2>/dev/null | sort -z | xargs -0r sha256sum
  done
}

restore_refused() {
  local code=$1 name=$2 want=$3 before after; shift 3
  before=${STATE_BEFORE:-$(state)}
  expect_fail "$code" "$name" "$DUMPER" restore "$@"
  grep -qF -- "$want" "$T/err" || fail "$name: error does not say '$want': $(cat "$T/err")"
  after=$(state)
  [ "$before" = "$after" ] || fail "$name: changed: $(diff <(echo "$before") <(echo "$after") | head -5)"
}
