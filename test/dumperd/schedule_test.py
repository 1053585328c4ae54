"""schedule_test.py - schedules over simulated days with dumperd's test clock: every due slot becomes
exactly one job (compared with an independent computation in Python's zoneinfo, across both daylight
saving changes of Europe/Paris), a restart in the middle of a day loses and duplicates nothing, and
retention keeps exactly what the policy says (newest good backup always kept; failures delete nothing)."""
import datetime as dt
import json
import os
from zoneinfo import ZoneInfo
from harness import check, eq, main, poll, register, run_backup


def ts(s):
    return int(dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def iso(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cron_match(spec, wall):
    """spec: (minutes set, hours set) with every day matching (what this test uses)."""
    mins, hours = spec
    return wall.minute in mins and wall.hour in hours


def expected_slots(spec, tz, start, end):
    """UTC minutes in (start, end] whose local wall time matches. A wall time skipped by a spring-forward
    jump fires at the first minute after the jump; a wall time repeated after a fall-back fires once."""
    z = ZoneInfo(tz)
    out = []
    t = (start // 60) * 60
    prev = dt.datetime.fromtimestamp(t, z).replace(tzinfo=None)
    seen_max = prev
    while True:
        t += 60
        if t > end:
            break
        wall = dt.datetime.fromtimestamp(t, z).replace(tzinfo=None)
        if wall <= seen_max:  # repeated after fall back
            prev = wall
            continue
        cands = []
        w = prev + dt.timedelta(minutes=1)
        while w <= wall:
            cands.append(w)
            w += dt.timedelta(minutes=1)
        if any(cron_match(spec, c) for c in cands) and t > start:
            out.append(t)
        prev = wall
        seen_max = max(seen_max, wall)
    return out


def drain(s, key, agent, got, fail=False):
    """Poll as the primary until no job is left; run (or fail) each job like a job process would."""
    for _ in range(1000):
        j = poll(s, key, agent)["job"]
        if not j:
            return
        got.append(j)
        if fail:
            p = s.ok("POST", "/api/v1/backups/prepare", {"agent_id": agent, "job_id": j["job_id"]}, key)
            s.ok("POST", "/api/v1/backups/%s/fail" % p["backup_id"], {"code": "source_failed", "message": "x"}, key)
        else:
            run_backup(s, key, agent, j["job_id"], data=os.urandom(64), parts=1)
    raise AssertionError("too many jobs")


def keep_policy(backups, last, daily, weekly, monthly):
    """backups: [(created_at epoch, id)] good ones; returns the ids the policy keeps."""
    b = sorted(backups, key=lambda x: (-x[0], -x[1]))
    keep = set()
    ld = lw = lm = None
    nd = nw = nm = 0
    for i, (t, bid) in enumerate(b):
        d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
        day, week, month = d.date(), d.isocalendar()[:2], (d.year, d.month)
        if i == 0 or i < last:
            keep.add(bid)
        if day != ld and nd < daily:
            keep.add(bid)
            nd += 1
        if week != lw and nw < weekly:
            keep.add(bid)
            nw += 1
        if month != lm and nm < monthly:
            keep.add(bid)
            nm += 1
        ld, lw, lm = day, week, month
    return keep


def test(env):
    # --- every half hour in Paris over the autumn change, with a restart mid-day ---
    key = env.app("shop")
    start = ts("2026-10-23T22:00:00Z")
    s = env.serve("--primary-interval", "60", "--lease", "86400", clock=start)
    s.any_key = key
    agent = register(s, key, "web-1", 1, dbs=[{"key": "main", "type": "sqlite"}])["agent_id"]
    env.admin("schedule", "set", "shop", "--cron", "*/30 * * * *", "--tz", "Europe/Paris")
    env.admin("schedule", "set", "shop", "--cron", "61 * * * *", ok=False)
    env.admin("schedule", "set", "shop", "--cron", "* * * *", ok=False)
    env.admin("schedule", "set", "shop", "--cron", "* * * * *", "--tz", "Mars/Olympus", ok=False)
    env.admin("schedule", "set", "shop", "--cron", "* * * * *", "--database", "nope", ok=False)
    env.admin("retention", "set", "shop", "--keep-last", "3", "--daily", "2", "--weekly", "1")
    s.set_clock(start)
    got = []
    t = start
    end = start + 3 * 86400
    restarted = False
    while t < end:
        t += 7 * 60
        if not restarted and t >= ts("2026-10-25T11:00:00Z"):
            # dumperd stops at 11:00Z and comes back 2 h 13 min later: the 4 slots in between are not lost
            s.restart(clock=t + 2 * 3600 + 13 * 60)
            t += 2 * 3600 + 13 * 60
            restarted = True
        else:
            s.set_clock(t)
        drain(s, key, agent, got)
    want = expected_slots((set(range(0, 60, 30)), set(range(24))), "Europe/Paris", start, t)
    slots = [ts(j["slot"]) for j in got]
    eq(len(slots), len(set(slots)), "no slot twice")
    check(len(want) > 140, "the expected list is not trivial (%d)" % len(want))
    eq(sorted(slots), want, "slots over three days")
    check(all(j["reason"] == "schedule" and j["attempt"] == 1 for j in got), "all scheduled, first attempt")
    # The repeated hour of 2026-10-25 (01:00-02:00Z = 02:00-03:00 CET) produced nothing.
    eq([x for x in slots if ts("2026-10-25T00:59:00Z") < x < ts("2026-10-25T02:00:00Z")], [],
       "no slot in the repeated hour")

    # Retention: exactly the policy's set survives, in the catalog and in storage.
    cat = json.loads(env.admin("backups", "shop", "--json").stdout)
    goods = [(ts(b["created_at"]), int(b["backup_id"][2:])) for b in cat if b["status"] in ("good", "deleted")]
    eq(len(goods), len(slots), "one backup per slot")
    keep = keep_policy(goods, 3, 2, 1, 0)
    kept = {int(b["backup_id"][2:]) for b in cat if b["status"] == "good"}
    eq(kept, keep, "retention keeps exactly keep-last 3 + daily 2 + weekly 1")
    files = sorted(f for f in os.listdir(os.path.join(env.data, "backups")) if not f.endswith(".json"))
    eq(files, sorted(b["file_name"] for b in cat if b["status"] == "good"), "storage holds exactly the kept")

    # A failing streak deletes nothing good.
    for _ in range(4):
        t += 30 * 60
        s.set_clock(t)
        drain(s, key, agent, [], fail=True)
    cat2 = json.loads(env.admin("backups", "shop", "--json").stdout)
    eq({int(b["backup_id"][2:]) for b in cat2 if b["status"] == "good"}, keep, "failures keep every good backup")
    check(sum(b["status"] == "failed" for b in cat2) >= 4 * 3, "each failing slot tried three times")

    # --- daily 02:30 in Paris over the spring change: the skipped 02:30 fires at 03:00 CEST ---
    key2 = env.app("dst")
    s.any_key = key2
    start2 = ts("2027-03-25T12:00:00Z")
    s.restart(clock=start2)
    agent2 = register(s, key2, "w", 1, dbs=[{"key": "main", "type": "sqlite"}])["agent_id"]
    env.admin("schedule", "set", "dst", "--database", "main", "--cron", "30 2 * * *", "--tz", "Europe/Paris")
    s.set_clock(start2)
    got2 = []
    t = start2
    while t < start2 + 5 * 86400:
        t += 25 * 60
        s.set_clock(t)
        drain(s, key2, agent2, got2)
    slots2 = sorted(ts(j["slot"]) for j in got2)
    eq(slots2, expected_slots(({30}, {2}), "Europe/Paris", start2, t), "daily slots over the spring change")
    eq([iso(x) for x in slots2], ["2027-03-26T01:30:00Z", "2027-03-27T01:30:00Z", "2027-03-28T01:00:00Z",
                                  "2027-03-29T00:30:00Z", "2027-03-30T00:30:00Z"], "daily slots, by hand")


main(test)
