# test/lib/plant.sh - planted backups: what anyone holding an app key can upload. Source after
# common.sh.
#
#   plant DIR NAME SOURCE_TYPE FORMAT < CONTENT    -> prints the backup's path
#
# Writes DIR/NAME-<UTC stamp>.FORMAT.zst (the content compressed with the real zstd) and a manifest
# beside it whose size, raw_size and sha256 match, exactly as `dumper backup` (or dumperd after an
# upload) would: nothing in the manifest tells a planted backup from a good one. Each call uses a
# new timestamp, so names never collide.
plant() {
  local dir=$1 name=$2 type=$3 format=$4 raw out
  mkdir -p "$dir"
  raw=$(mktemp "$dir/.plant.XXXXXX")
  cat >"$raw"
  _plant_n=$(( ${_plant_n:-0} + 1 ))
  out=$(python3 - "$dir" "$name" "$type" "$format" "$raw" "$_plant_n" <<'PY'
import datetime, hashlib, json, os, subprocess, sys
d, name, typ, fmt, raw, n = sys.argv[1:]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(milliseconds=int(n))
ms = int(now.timestamp() * 1000)
stamp = now.strftime("%Y%m%dT%H%M%S.") + "%03dZ" % (ms % 1000)
key = f"{name}-{stamp}.{fmt}.zst"
path = os.path.join(d, key)
with open(raw, "rb") as f:
    content = f.read()
data = subprocess.run(["zstd", "-q", "-c"], input=content, stdout=subprocess.PIPE, check=True).stdout
with open(path, "wb") as f:
    f.write(data)
m = {"dumper_manifest": 1, "name": key, "source_type": typ, "format": fmt, "compression": "zstd",
     "size": len(data), "raw_size": len(content), "sha256": hashlib.sha256(data).hexdigest(),
     "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "created_ms": ms, "duration_ms": 1,
     "dumper_version": "0.1.0", "database": typ + "://planted"}
with open(path + ".json", "w") as f:
    json.dump(m, f)
print(path)
PY
)
  rm -f "$raw"
  echo "$out"
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
