-- wrk script: optional method, body and content type from the arguments after `--`,
-- and one JSON line with the figures the harness needs once the run is done.

function init(args)
  -- wrk formats the request after init returns, so these settings take effect.
  if args[1] then wrk.method = args[1] end
  if args[2] then wrk.body = args[2] end
  if args[3] then wrk.headers["Content-Type"] = args[3] end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    e.connect, e.read, e.write, e.status, e.timeout))
end
