"""election_test.py - primary election under concurrency: many simulated agents registering and polling
at once get exactly one primary; a primary that stops polling is replaced by the next secondary to poll
after its lease; the old primary is told it is secondary; two dumperd instances on one store still elect
one primary and hand out each job and each schedule slot exactly once."""
import json
import threading
from harness import check, eq, main, poll, register, run_backup

T0 = 1800000000
N = 60


def concurrently(fns):
    out = [None] * len(fns)
    errs = []
    barrier = threading.Barrier(len(fns))

    def run(i, f):
        try:
            barrier.wait()
            out[i] = f()
        except Exception as e:  # noqa
            errs.append(e)
    ts = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errs:
        raise errs[0]
    return out


def test(env):
    key = env.app("shop")
    s = env.serve("--primary-interval", "60", "--lease", "120", "--threads", "4", clock=T0)
    s.any_key = key

    # N agents register at the same instant, then all poll at once, three rounds.
    regs = concurrently([lambda i=i: register(s, key, "host-%d" % i, 1000 + i) for i in range(N)])
    agents = [r["agent_id"] for r in regs]
    eq(len(set(agents)), N, "distinct agent ids")
    prim = {r["agent_id"] for r in regs if r["role"] == "primary"}
    eq(len(prim), 1, "exactly one primary among %d concurrent registrations" % N)
    for rnd in range(3):
        polls = concurrently([lambda a=a: poll(s, key, a) for a in agents])
        now = {a for a, p in zip(agents, polls) if p["role"] == "primary"}
        eq(now, prim, "round %d: the same single primary" % rnd)
    listed = json.loads(env.admin("agents", "shop", "--json").stdout)
    eq([a["agent_id"] for a in listed if a["role"] == "primary"], list(prim), "dumperd agents shows one primary")
    p0 = prim.pop()

    # The primary stops polling. Before the lease ends nothing changes; after, the next poller wins.
    others = [a for a in agents if a != p0]
    s.set_clock(T0 + 119)
    eq(poll(s, key, others[0])["role"], "secondary", "within the lease the primary keeps its role")
    s.set_clock(T0 + 121)
    eq(poll(s, key, others[5])["role"], "primary", "next secondary to poll after the lease is promoted")
    eq(poll(s, key, p0)["role"], "secondary", "the old primary is told it is secondary")
    eq(poll(s, key, others[5])["role"], "primary", "the new primary stays primary")

    # The new primary goes silent too; the rest poll all at once: still exactly one winner.
    s.set_clock(T0 + 300)
    polls = concurrently([lambda a=a: poll(s, key, a) for a in agents if a != others[5]])
    winners = [p for p in polls if p["role"] == "primary"]
    eq(len(winners), 1, "exactly one promotion among concurrent pollers")

    # A second dumperd on the same store (SQLite file or PostgreSQL database).
    s2 = env.serve("--primary-interval", "60", "--lease", "120", "--threads", "4", clock=T0 + 300)
    s2.any_key = key
    servers = [s, s2]
    regs = concurrently([lambda i=i: register(servers[i % 2], key, "stg-%d" % i, 2000 + i, env="staging")
                         for i in range(40)])
    eq(sum(r["role"] == "primary" for r in regs), 1, "one primary across two instances")
    stg = [r["agent_id"] for r in regs]
    pstg = [r["agent_id"] for r in regs if r["role"] == "primary"][0]
    polls = concurrently([lambda i=i, a=a: poll(servers[i % 2], key, a) for i, a in enumerate(stg)])
    eq([a for a, p in zip(stg, polls) if p["role"] == "primary"], [pstg], "polls through both instances agree")

    # Jobs: each is handed out once, whichever instance the primary reaches.
    for _ in range(5):
        env.admin("backup", "now", "shop", "--env", "staging")
    got = concurrently([lambda i=i: poll(servers[i % 2], key, pstg)["job"] for i in range(12)])
    jobs = [j["job_id"] for j in got if j]
    eq(len(jobs), 5, "five manual jobs handed out")
    eq(len(set(jobs)), 5, "no job handed out twice")

    # Those five jobs run at once, uploading and committing through both instances: all good, all distinct.
    import hashlib
    import os
    datas = [os.urandom(20000 + i) for i in range(5)]
    res = concurrently([lambda i=i, j=j: run_backup(servers[i % 2], key, pstg, j, data=datas[i], parts=4)
                        for i, j in enumerate(jobs)])
    eq(sorted(r["sha256"] for r in res), sorted(hashlib.sha256(d).hexdigest() for d in datas),
       "five concurrent backups committed")
    eq(len({r["file_name"] for r in res}), 5, "five distinct files")

    # Slots: both instances run the scheduler; each minute slot becomes one job.
    env.admin("schedule", "set", "shop", "--env", "staging", "--cron", "* * * * *")
    concurrently([lambda x=x: x.set_clock(T0 + 300) for x in servers])  # the schedule starts here
    for m in range(1, 11):
        concurrently([lambda x=x, m=m: x.set_clock(T0 + 300 + 60 * m) for x in servers])
    slots = []
    for i in range(30):
        j = poll(servers[i % 2], key, pstg)["job"]
        if not j:
            break
        slots.append(j["slot"])
        run_backup(servers[(i + 1) % 2], key, pstg, j["job_id"])
    eq(len(slots), 10, "ten minute slots produced by two schedulers: %r" % slots)
    eq(len(set(slots)), 10, "each slot once")
    s2.stop()


main(test)
