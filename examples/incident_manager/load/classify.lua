-- SPDX-License-Identifier: Apache-2.0
--
-- wrk script of example.incident_manager.load: GET /api/alerts, every reply classified.
--   answer       200 with X-Served-From: sentinel           (the real answer)
--   fallback     200 with X-Served-From: cache (fallback)   (the cached alerts)
--   unavailable  503 with a Retry-After header              (the guard's, or no cache yet)
--   bad          anything else (a 500, a 503 without Retry-After, a 200 from nowhere)
-- Socket errors and timeouts are wrk's own counts (summary.errors), printed beside these.
-- done() prints one line `load: key=value ...` that the test parses.

wrk.method = "GET"
wrk.path = "/api/alerts"
wrk.headers["Accept"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  answer, fallback, unavailable, bad = 0, 0, 0, 0
  first_bad = ""
end

function response(status, headers, body)
  local from = headers["X-Served-From"] or headers["x-served-from"]
  local retry = headers["Retry-After"] or headers["retry-after"]
  if status == 200 and from == "sentinel" then
    answer = answer + 1
  elseif status == 200 and from == "cache (fallback)" then
    fallback = fallback + 1
  elseif status == 503 and retry ~= nil and string.match(retry, "^%d+$") then
    unavailable = unavailable + 1
  else
    bad = bad + 1
    if first_bad == "" then
      first_bad = string.format("status %d, X-Served-From %s, Retry-After %s",
                                status, tostring(from), tostring(retry))
    end
  end
end

function done(summary, latency, requests)
  local a, f, u, b, why = 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    a = a + t:get("answer")
    f = f + t:get("fallback")
    u = u + t:get("unavailable")
    b = b + t:get("bad")
    if why == "" then why = t:get("first_bad") end
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "load: requests=%d seconds=%.2f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "answer=%d fallback=%d unavailable=%d bad=%d connect_errors=%d read_errors=%d " ..
    "write_errors=%d timeouts=%d non_2xx_3xx=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    a, f, u, b, e.connect, e.read, e.write, e.timeout, e.status))
  if why ~= "" then io.write("load: first bad reply: " .. why .. "\n") end
end
