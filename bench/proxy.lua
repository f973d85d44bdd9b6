-- proxy.lua: wrk's side of bench/proxy.sh.  Every request is the same
-- small non-streaming Messages API call, with the headers an SDK sends;
-- at the end one line with the exact figures (latencies in us), for
-- bench/proxy.py to read.
wrk.method = "POST"
wrk.headers["x-api-key"] = "sk-ant-bench"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"model":"claude-sonnet-4-5","max_tokens":16,' ..
    '"messages":[{"role":"user","content":"fake:tokens 16 hello"}]}'

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("WRK requests=%d duration_us=%d p50=%d " ..
	    "p90=%d p99=%d p999=%d mean=%.1f max=%d connect=%d read=%d " ..
	    "write=%d status=%d timeout=%d\n",
	    summary.requests, summary.duration,
	    latency:percentile(50), latency:percentile(90),
	    latency:percentile(99), latency:percentile(99.9),
	    latency.mean, latency.max, e.connect, e.read, e.write,
	    e.status, e.timeout))
end
