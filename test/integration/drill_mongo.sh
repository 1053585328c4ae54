#!/usr/bin/env bash
# drill_mongo.sh - `dumper drill` of MongoDB backups against test/doubles/mongo_wire_double.py, a
# wire-protocol TEST DOUBLE (no MongoDB server can be installed here): what is real is libmongoc,
# the backup's counts and the drill's restore/count/compare/drop; what the double stands in for is
# the server (it stores and counts what it is sent). pymongo writes the data and checks the server.
# Checks: the manifest records each collection's documents as the backup wrote them (several
# collections, an empty one, one split into parts) and the server version; a drill restores into a
# scratch database dumper_drill_* on the --scratch server, compares (`--json` too) and drops it; a
# manifest that lies about a count, a collection more and one less fails (21, the exact lines) and
# drops it too; a killed drill's leftover (its process gone) is dropped by the next drill; a backup
# of several databases is refused (4), --check too (4), a drill without --scratch (2).
. "$DUMPER_SRC/test/lib/common.sh"
. "$DUMPER_SRC/test/lib/agent.sh"
PY=/usr/bin/python3
$PY -c 'import bson, pymongo' 2>/dev/null || { echo "skip: python3-pymongo not installed" >&2; exit 77; }
PORT=$(free_port)
URL="mongodb://127.0.0.1:$PORT"
$PY "$DUMPER_SRC/test/doubles/mongo_wire_double.py" "$PORT" "$T/ready" </dev/null >"$T/double.log" 2>&1 &
DPID=$!
trap 'rc=$?; kill_ours TERM "$DPID"; (exit $rc); _cleanup' EXIT
for _ in $(seq 100); do [ -f "$T/ready" ] && break; sleep 0.05; done
[ -f "$T/ready" ] || fail "test double did not start"

cat >"$T/m.py" <<'PYEOF'
import hashlib, socket, sys
import pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000)
cmd = sys.argv[2]
if cmd == "populate":
    c.app.users.insert_many([{"_id": i, "email": "u%d@example.com" % i} for i in range(50)])
    c.app.orders.insert_many([{"_id": i, "pad": "x" * 500} for i in range(300)])  # several parts
    c.app.create_collection("empty")
    c.app.log.insert_one({"_id": 1, "msg": "started"})
    c.other.things.insert_one({"_id": 1})
elif cmd == "drills":  # the dumper_drill_* databases on the server
    print(" ".join(sorted(n for n in c.list_database_names() if n.startswith("dumper_drill_"))))
elif cmd == "leftover":  # what a drill killed with SIGKILL leaves: its database, its process gone
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    c["dumper_drill_%s_%s_1796304739" % (host, sys.argv[3])].users.insert_one({"_id": 1})
PYEOF
$PY "$T/m.py" "$URL" populate
no_drill_db() { [ -z "$($PY "$T/m.py" "$URL" drills)" ] || fail "$1: scratch database left: $($PY "$T/m.py" "$URL" drills)"; }

B=$(DUMPER_MONGO_PART_BYTES=40000 "$DUMPER" backup "$URL/app" --to "$T/bk")
$PY - "$B.json" <<'PY' || fail "manifest contents"
import json, sys
c = json.load(open(sys.argv[1]))["contents"]
assert c["tables"] == [{"name": "app.empty", "rows": 0}, {"name": "app.log", "rows": 1},
                       {"name": "app.orders", "rows": 300}, {"name": "app.users", "rows": 50}], c
assert c["server_version"] == "5.0.0-test-double" and "schema_fingerprint" not in c, c
PY
zstd -dcq "$B" >"$T/b.tar"
tar -tf "$T/b.tar" >"$T/list"
grep -qx 'app/orders.bson.001' "$T/list" || { cat "$T/list" >&2; fail "orders was not split into parts"; }

SCRATCH="$URL/admin"
"$DUMPER" drill "$B" --scratch "$SCRATCH" >"$T/out" 2>"$T/err" || { cat "$T/out" "$T/err" >&2; fail "drill of a good backup"; }
grep -qx "drill passed: $B" "$T/out" || fail "no 'drill passed'"
grep -q "^  restored into dumper_drill_[0-9a-f]\{8\}_[0-9]*_[0-9]* in " "$T/out" || { cat "$T/out" >&2; fail "target line"; }
grep -qx "  4 tables, 351 rows, compared with the manifest" "$T/out" || { cat "$T/out" >&2; fail "figures"; }
no_drill_db "after a passed drill"
"$DUMPER" drill "$B" --scratch "$SCRATCH" --json >"$T/json"
$PY - "$T/json" <<'PY' || fail "--json"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["status"] == "passed" and o["compared"] is True and o["mismatches"] == [], o
assert o["rows"] == 351 and o["tables"] == 4 and o["source_type"] == "mongodb", o
assert o["source_server_version"] == o["scratch_server_version"] == "5.0.0-test-double", o
PY
no_drill_db "after a --json drill"

# a manifest that lies: users one more, log gone, a collection the backup does not hold
mkdir "$T/lie"
E="$T/lie/$(basename "$B")"
cp "$B" "$E"
$PY - "$B.json" "$E.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["contents"]["tables"] = [{"name": "app.empty", "rows": 0}, {"name": "app.ghost", "rows": 7},
                           {"name": "app.orders", "rows": 300}, {"name": "app.users", "rows": 51}]
json.dump(m, open(sys.argv[2], "w"))
PY
rc=0; "$DUMPER" drill "$E" --scratch "$SCRATCH" >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = 21 ] || { cat "$T/out" "$T/err" >&2; fail "lying manifest: exit $rc, expected 21"; }
grep -qx "drill FAILED: $E" "$T/out" || fail "no 'drill FAILED' line"
cat >"$T/want" <<'EOF'
  mismatch: table 'app.ghost' (7 rows in the manifest) is missing from the restored database
  mismatch: table 'app.log' was restored but is not in the manifest
  mismatch: table 'app.users': 51 rows in the manifest, 50 restored
EOF
grep mismatch "$T/out" >"$T/got" || true
diff "$T/want" "$T/got" >&2 || fail "mismatch lines"
no_drill_db "after a failed drill"

# the leftover of a killed drill goes with the next drill, with one warning line
sleep 0 & dead=$!; wait "$dead"
$PY "$T/m.py" "$URL" leftover "$dead"
[ -n "$($PY "$T/m.py" "$URL" drills)" ] || fail "the planted leftover is not there"
"$DUMPER" drill "$B" --scratch "$SCRATCH" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; fail "drill after a leftover"; }
grep -q "drill: dropped the leftover scratch database 'dumper_drill_[0-9a-f]*_${dead}_1796304739'" "$T/err" ||
  { cat "$T/err" >&2; fail "leftover warning"; }
no_drill_db "after the sweep"

# refusals
B2=$("$DUMPER" backup "$URL" --to "$T/all")
expect_fail 4 "several databases" "$DUMPER" drill "$B2" --scratch "$SCRATCH"
grep -qx "dumper: drills of mongodb backups of several databases are not supported yet (back up each database by its own URL)" \
  "$T/err" || fail "several databases line"
echo "select 1" >"$T/c.sql"
expect_fail 4 "--check on mongodb" "$DUMPER" drill "$B" --scratch "$SCRATCH" --check "$T/c.sql"
grep -qx "dumper: mongodb drills take no --check" "$T/err" || fail "check refusal line"
expect_fail 2 "no --scratch" "$DUMPER" drill "$B"
no_drill_db "after the refusals"
echo ok
