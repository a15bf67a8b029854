-- wrk script of bench/harness.py. Arguments after `--`:
--   1 method, 2 form body, 3 content type (empty: leave them as they are),
--   4 the status a correct answer has; any other is counted as "unexpected",
--   5 a feed file (optional): one request a line, "path<TAB>cookie<TAB>body", each sent once,
--   6 how many of its lines earlier runs used, 7 how many wrk threads share it.
-- Once the run is done, prints one JSON line with the figures the harness needs.

local threads = {}

-- Runs in the main script, once per thread before the thread's init.
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function set(value)
  return value ~= nil and value ~= ""
end

function init(args)
  -- wrk formats the request after init returns, so these settings take effect.
  if set(args[1]) then wrk.method = args[1] end
  if set(args[2]) then wrk.body = args[2] end
  if set(args[3]) then wrk.headers["Content-Type"] = args[3] end
  expected = tonumber(args[4])
  unexpected, sent, exhausted, fed, example = 0, 0, 0, false, 0
  if expected then response = count_unexpected end
  if set(args[5]) then
    skip, stride = tonumber(args[6]), tonumber(args[7])
    feed, fed = load_feed(args[5], skip + id, stride), true
    request = next_request
  end
end

-- Format this thread's lines of the feed: every stride-th from the first unused one.
function load_feed(path, first, stride)
  local requests, n = {}, 0
  for line in io.lines(path) do
    if n >= first and (n - first) % stride == 0 then
      local target, cookie, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {}
      for name, value in pairs(wrk.headers) do
        -- The line's cookie replaces the one given with -H, whatever its spelling.
        if cookie == "" or name:lower() ~= "cookie" then headers[name] = value end
      end
      if cookie ~= "" then headers["Cookie"] = cookie end
      requests[#requests + 1] = wrk.format(nil, target, headers, body)
    end
    n = n + 1
  end
  return requests
end

function next_request()
  sent = sent + 1
  local formatted = feed[sent]
  if formatted == nil then
    -- Sending a line twice would measure a conflict; ask for a page that is not there instead.
    exhausted = 1
    return wrk.format("GET", "/bench-feed-exhausted", nil, "")
  end
  return formatted
end

function count_unexpected(status, headers, body)
  if status ~= expected then
    unexpected = unexpected + 1
    example = status
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  -- wrk calls request() once more than it sends, to check it; that line is skipped, not reused.
  local unexpected_total, next_line, exhausted_any, example_any = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    unexpected_total = unexpected_total + thread:get("unexpected")
    example_any = math.max(example_any, thread:get("example"))
    exhausted_any = math.max(exhausted_any, thread:get("exhausted"))
    if thread:get("fed") then
      local stride = thread:get("stride")
      next_line = math.max(next_line, thread:get("skip") + thread:get("id") + thread:get("sent") * stride)
    end
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "unexpected": %d, "example": %d, ' ..
    '"next": %d, "exhausted": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), unexpected_total, example_any,
    next_line, exhausted_any, e.connect, e.read, e.write, e.status, e.timeout))
end
