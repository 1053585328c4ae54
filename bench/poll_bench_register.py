"""poll_bench_register.py PORT N - register N simulated agents (keep-alive connection); key from $APP_KEY.
Prints the first and last agent ids."""
import http.client
import json
import os
import sys

port, n = int(sys.argv[1]), int(sys.argv[2])
key = os.environ["APP_KEY"]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
h = {"Authorization": "Bearer " + key, "Content-Type": "application/json", "X-Dumper-Api": "1"}
ids = []
for i in range(n):
    body = json.dumps({"hostname": "bench-%d" % i, "pid": 1000 + i, "environment": "production",
                       "agent_version": "bench", "databases": [{"key": "main", "type": "postgresql",
                                                                "host": "db", "name": "shop"}]})
    c.request("POST", "/api/v1/agents/register", body=body, headers=h)
    r = c.getresponse()
    j = json.loads(r.read())
    if r.status != 200:
        sys.exit("register failed: %d %r" % (r.status, j))
    ids.append(int(j["agent_id"][2:]))
print(min(ids), max(ids))
