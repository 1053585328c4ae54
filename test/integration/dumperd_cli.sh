#!/usr/bin/env bash
# dumperd_cli.sh - dumperd's admin commands (usage errors, exit codes, one-line messages) and serving over TLS.
. "$(dirname "$0")/../lib/common.sh"
export DUMPERD_DATA=$T/var
unset DUMPERD_STORE

key=$("$DUMPERD" app create shop 2>"$T/create.err")
[[ $key =~ ^dk_[0-9a-f]{64}$ ]] || fail "app key format: $key"
grep -q "shown only this once" "$T/create.err" || fail "app create note"
grep -q "$key" "$DUMPERD_DATA/dumperd.db" && fail "the app key is stored in clear"
expect_fail 6 "duplicate app" "$DUMPERD" app create shop
grep -q "app 'shop' already exists" "$T/err" || fail "duplicate app message: $(cat "$T/err")"
expect_fail 5 "unknown app" "$DUMPERD" backups nope
grep -q "no app named 'nope'" "$T/err" || fail "unknown app message"
expect_fail 2 "unknown command" "$DUMPERD" frobnicate
expect_fail 2 "schedule without cron" "$DUMPERD" schedule set shop
expect_fail 2 "bad cron" "$DUMPERD" schedule set shop --cron "* * *"
grep -q "needs 5 fields" "$T/err" || fail "bad cron message: $(cat "$T/err")"
expect_fail 2 "bad zone" "$DUMPERD" schedule set shop --cron "0 3 * * *" --tz "../../etc/passwd"
expect_fail 5 "backup now without databases" "$DUMPERD" backup now shop
expect_fail 2 "bad interval" "$DUMPERD" serve --primary-interval abc
expect_fail 2 "lease shorter than interval" "$DUMPERD" serve --primary-interval 600 --lease 60
expect_fail 11 "s3 storage without credentials" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
  "$DUMPERD" serve --storage s3://bucket/prefix --listen 127.0.0.1:0
grep -q "no s3 credentials" "$T/err" || fail "s3 credentials message: $(cat "$T/err")"
"$DUMPERD" schedule set shop --cron "0 3 * * *" --tz Asia/Kolkata 2>/dev/null || fail "schedule set"
"$DUMPERD" schedules shop --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert len(s) == 1 and s[0]["cron"] == "0 3 * * *" and s[0]["tz"] == "Asia/Kolkata" and s[0]["database_key"] is None, s
n = s[0]["next"]
assert len(n) == 5 and all(x.endswith("T21:30:00Z") for x in n), n' || fail "schedules --json"
"$DUMPERD" schedules shop >"$T/sched.txt" || fail "schedules"
[ "$(sed -n 1p "$T/sched.txt")" = "$(printf 'ENVIRONMENT\tDATABASE\tCRON\tTZ\tNEXT RUNS')" ] || fail "schedules header: $(cat "$T/sched.txt")"
# the five next runs, at 03:00 Asia/Kolkata (21:30 UTC)
sed -n 2p "$T/sched.txt" | grep -Eq "^production	-	0 3 \* \* \*	Asia/Kolkata	([0-9-]{10}T21:30:00Z ){4}[0-9-]{10}T21:30:00Z$" ||
  fail "schedules line: $(cat "$T/sched.txt")"
"$DUMPERD" backups shop >"$T/backups.txt" || fail "backups"
[ "$(cat "$T/backups.txt")" = "$(printf 'BACKUP\tCREATED\tDATABASE\tSTATUS\tSIZE\tFILE\tERROR\tDRILL')" ] || fail "backups header: $(cat "$T/backups.txt")"
"$DUMPERD" app list | grep -q "^shop" || fail "app list"
"$DUMPERD" app list --json | python3 -c 'import json,sys; a=json.load(sys.stdin); assert [x["name"] for x in a]==["shop"]' \
  || fail "app list --json"
# (into a file: `--help | grep -q` fails under pipefail once the help outgrows one 4 KiB write and grep exits first)
"$DUMPERD" --help >"$T/help"
grep -q "schedule set APP" "$T/help" || fail "help"
grep -q "drill set APP \[--env ENV\] \[--database KEY\] (--after-each-backup | --cron EXPR \[--tz ZONE\])" "$T/help" || fail "help: drill set"

# TLS: a self-signed certificate; curl must verify it
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 2>/dev/null
"$DUMPERD" serve --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" </dev/null >"$T/serve.log" 2>&1 &
pid=$!
port=$(dumperd_port "$T/serve.log" $pid) || { kill $pid 2>/dev/null || true; fail "no listen line: $(cat "$T/serve.log")"; }
grep -q "listening on https://" "$T/serve.log" || { kill $pid; fail "not listening on https: $(cat "$T/serve.log")"; }
out=$(curl -sS --cacert "$T/cert.pem" -H "Authorization: Bearer $key" \
  -d '{"hostname":"h","pid":1,"environment":"production","databases":[]}' "https://127.0.0.1:$port/api/v1/agents/register")
echo "$out" | grep -q '"role":"primary"' || { kill $pid; fail "register over TLS: $out"; }
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/agents/poll" || true)
[ "$code" != 200 ] || { kill $pid; fail "plain HTTP accepted on the TLS port"; }
kill $pid
wait $pid || fail "dumperd exit status on SIGTERM"
echo ok
