-- poll_bench.lua - wrk script: POST /api/v1/agents/poll as AGENTS distinct agents (ids FIRST..FIRST+AGENTS-1),
-- app key from $APP_KEY (environment, never argv). Each wrk thread starts at a different offset.
local first = tonumber(os.getenv("FIRST_AGENT") or "1")
local count = tonumber(os.getenv("AGENTS") or "10000")
local key = os.getenv("APP_KEY") or ""
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  counter = (tid or 0) * 1237
  headers = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json", ["X-Dumper-Api"] = "1"}
end

function request()
  counter = counter + 1
  local id = first + (counter % count)
  return wrk.format("POST", "/api/v1/agents/poll", headers, '{"agent_id":"a_' .. id .. '"}')
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f non2xx=%d errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
