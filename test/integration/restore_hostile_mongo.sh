#!/usr/bin/env bash
# restore_hostile_mongo.sh - planted MongoDB backups (tar archives of BSON built with Python's
# tarfile and bson, zstd + a manifest whose sha256 matches) against the wire-protocol TEST DOUBLE
# (test/doubles/mongo_wire_double.py; no MongoDB server can run here). The restore writes no file
# whatever the member names ('..', absolute paths, symlinks and hard links to /etc/passwd) and
# touches no database but its target: '..' and other invalid database names, admin/config/local,
# '$' or a %00 escape in a collection name, "$db"/viewOn/pipeline among the create options are
# refused (exit 9, one line); with a database in the URL everything goes there. A refused archive
# leaves the empty target as it was: collections it had created are dropped again.
. "$(dirname "$0")/../lib/common.sh"
. "$DUMPER_SRC/test/lib/plant.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
PY=/usr/bin/python3
$PY -c 'import bson, pymongo' 2>/dev/null || { echo "skip: python3-pymongo not installed" >&2; exit 77; }

B="$T/backups"; C="$T/canary"
mkdir -p "$C"
PORT=$(free_port)
URL="mongodb://127.0.0.1:$PORT"
rm -f "$T/ready"
$PY "$DUMPER_SRC/test/doubles/mongo_wire_double.py" "$PORT" "$T/ready" </dev/null >"$T/double.log" 2>&1 &
DPID=$!
trap 'rc=$?; kill_ours TERM "$DPID"; wait "$DPID" 2>/dev/null || true; (exit $rc); _cleanup' EXIT
for _ in $(seq 100); do [ -f "$T/ready" ] && break; sleep 0.05; done
[ -f "$T/ready" ] || fail "test double did not start"

# mkarchive SPEC...: a tar on stdout. SPEC: NAME=DOCS (BSON of DOCS documents {_id: i}),
# NAME:json=TEXT (a file with TEXT), NAME@sym=TARGET, NAME@hard=TARGET.
mkarchive() {
  $PY - "$@" <<'PY'
import io, sys, tarfile, bson
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
    for spec in sys.argv[1:]:
        if "@sym=" in spec or "@hard=" in spec:
            name, target = spec.split("@sym=") if "@sym=" in spec else spec.split("@hard=")
            i = tarfile.TarInfo(name)
            i.type = tarfile.SYMTYPE if "@sym=" in spec else tarfile.LNKTYPE
            i.linkname = target
            t.addfile(i)
            continue
        if ":json=" in spec:
            name, text = spec.split(":json=", 1)
            data = text.encode()
        else:
            name, n = spec.split("=")
            data = b"".join(bson.encode({"_id": k, "v": "x"}) for k in range(int(n)))
        i = tarfile.TarInfo(name)
        i.size = len(data)
        t.addfile(i, io.BytesIO(data))
sys.stdout.buffer.write(out.getvalue())
PY
}
# Databases with their collections (the double keeps a database whose last collection was dropped;
# MongoDB does not: empty ones are left out), and the canary directory.
state() {
  $PY -c 'import pymongo, sys; c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000)
for d in sorted(c.list_database_names()):
    if c[d].list_collection_names(): print(d, sorted(c[d].list_collection_names()))' "$URL/"
  tree_state "$C"
}

# refused CODE "name" "message part" URL SPEC...: one line, no file, no database changed
refused() {
  local code=$1 name=$2 want=$3 url=$4 b; shift 4
  b=$(mkarchive "$@" | plant "$B" "$name" mongodb tar)
  restore_refused "$code" "$name" "$want" "$b" "$url"
}

$PY -c 'import pymongo, sys; pymongo.MongoClient(sys.argv[1]).keep.c.insert_one({"_id": 1})' "$URL/"
BEFORE=$(state)
STATE_BEFORE=$BEFORE # every refused restore must leave exactly this
refused 9 dotdot "entry '../../escape/coll.bson' has an absolute or '..' path" "$URL" "../../escape/coll.bson=2"
refused 9 dotdot_inner "entry 'app/../admin/x.bson' has an absolute or '..' path" "$URL/target" "app/../admin/x.bson=2"
refused 9 absolute "entry '/etc/app/x.bson' has an absolute or '..' path" "$URL/target" "/etc/app/x.bson=2"
refused 9 dollar_db "entry 'app\$/coll.bson' names an invalid database" "$URL" 'app$/coll.bson=1'
refused 9 admin "would restore into the system database 'admin'" "$URL" "admin/planted.bson=1"
refused 9 config "would restore into the system database 'config'" "$URL" "config/shards.bson=1"
refused 9 local "would restore into the system database 'local'" "$URL" "local/oplog.rs.bson=1"
refused 9 nul_collection "entry 'app/evil%00name.bson' names an invalid collection" "$URL" "app/evil%00name.bson=1"
refused 9 dollar_collection "names an invalid collection" "$URL/target" 'app/c$x.bson=1'
refused 9 option_db "holds the option '\$db', which no collection backup has" "$URL/target" \
  'app/c.metadata.json:json={"options":{"$db":"admin","capped":true,"size":4096},"indexes":[]}' "app/c.bson=1"
refused 9 option_view "holds the option 'viewOn', which no collection backup has" "$URL/target" \
  'app/v.metadata.json:json={"options":{"viewOn":"c","pipeline":[]},"indexes":[]}'
refused 2 two_databases "backup holds several databases ('a', 'b', ...)" "$URL/target" "a/x.bson=1" "b/y.bson=1"
# a good collection first, then a refused entry: the empty target is left empty again
refused 9 after_good "would restore into the system database 'admin'" "$URL" "fresh/good.bson=3" "admin/x.bson=1"

# Member names are only names: nothing is written or read on this host. Links are skipped; a
# directory above the database's is allowed (mongodump's "dump/"), and the database is the target.
b=$(mkarchive "app/passwd.bson@sym=/etc/passwd" "app/shadow.bson@hard=/etc/shadow" "dump/app/kept.bson=2" \
  "app/canary.bson@sym=$C/made" | plant "$B" links mongodb tar)
unset STATE_BEFORE
quiet_check "restore of links and odd paths" "$DUMPER" restore "$b" "$URL/target"
[ "$BEFORE" = "keep ['c']" ] && [ "$(state)" = "keep ['c']"$'\n'"target ['kept']" ] ||
  fail "only target.kept may appear: $(state)"
echo "ok"
