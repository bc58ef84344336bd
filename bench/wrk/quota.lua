-- The quota probe Claude Code sends at start; nim-proxy answers it locally (the fast path).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"claude-3-sonnet","max_tokens":1,"messages":[{"role":"user","content":"quota check"}]}'
