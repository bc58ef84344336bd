#!/usr/bin/env python3
"""Runs every benchmark part against nim-proxy and its baselines; called by bench/run.sh.

Every server is a child of this script, bound to 127.0.0.1, and stopped here by its pid; every load
run is bounded by a request count or a duration. CPU time of a server is utime+stime from
/proc/<pid>/stat before and after a run; memory is VmRSS / VmHWM from /proc/<pid>/status.
"""

import argparse
import threading
import datetime
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
CLK_TCK = os.sysconf("SC_CLK_TCK")
QUOTA_BODY = b'{"model":"claude-3-sonnet","max_tokens":1,"messages":[{"role":"user","content":"quota check"}]}'
STREAM_BODY = (b'{"model":"claude-3-5-haiku-20241022","max_tokens":256,"stream":true,'
               b'"messages":[{"role":"user","content":"Say something."}]}')
OPENAI_BODY = b'{"model":"bench","stream":true,"messages":[{"role":"user","content":"Say something."}]}'
CHUNKS = 200  # text deltas per answer in the streaming throughput part
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "claude-cli-2.1.332")

# Sizes of each part: full run and --quick (a second or two per part, a smoke test).
FULL = dict(wrk_s=10, stream_n=2000, stream_c=32, litellm_n=200, litellm_c=10, ttfb_n=1000,
            ttfb_chunks=10, ttfb_delay=50, tenk_n=10000, tenk_chunks=30, tenk_delay=1000,
            count_s=5, tokenize_s=3, startups=5, idle_ms=1000, setup_n=20000, heap_few=100, heap_many=1100)
QUICK = dict(wrk_s=1, stream_n=100, stream_c=16, litellm_n=10, litellm_c=5, ttfb_n=200,
             ttfb_chunks=10, ttfb_delay=50, tenk_n=200, tenk_chunks=2, tenk_delay=500,
             count_s=1, tokenize_s=0.5, startups=1, idle_ms=300, setup_n=300, heap_few=10, heap_many=60)


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process of ours; stopped by pid, never by name."""

    def __init__(self, name, argv, env=None, cwd=None, stdout=subprocess.DEVNULL):
        self.name = name
        self.log_path = os.path.join(WORK, f"{name}.log")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd or WORK, stdout=stdout, stderr=self.log_file,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.port = None
        RUNNING.append(self)

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # After "pid (comm)", utime and stime are the 12th and 13th fields.
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def status_kb(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        if self in RUNNING:
            RUNNING.remove(self)

    def alive_or_fail(self):
        if self.proc.poll() is not None:
            with open(self.log_path, "rb") as f:
                tail = f.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {tail}")


def wait_http(server, path="/health", timeout=60, headers=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        server.alive_or_fail()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
            conn.request("GET", path, headers=headers or {})
            if conn.getresponse().status < 500:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} did not answer on port {server.port}")


def start_upstream(name, chunks, chunk_bytes=16, delay_ms=0):
    server = Server(name, [TOOLS["upstream"], "--port", "0", "--default-scenario", "synthetic",
                           "--chunks", str(chunks), "--chunk-bytes", str(chunk_bytes),
                           "--delay-ms", str(delay_ms)], stdout=subprocess.PIPE)
    line = server.proc.stdout.readline().decode()
    match = re.match(r"listening (\d+)", line)
    if not match:
        server.alive_or_fail()
        raise RuntimeError(f"{name}: unexpected first line {line!r}")
    server.port = int(match.group(1))
    return server


def proxy_env(upstream_port, tls_ca=None):
    env = dict(os.environ)
    scheme = "https" if tls_ca else "http"
    # One loop unless a part asks for more: the single-loop figures are the ones with bars.
    env.update(NVIDIA_NIM_BASE_URL=f"{scheme}://127.0.0.1:{upstream_port}/v1", NVIDIA_NIM_API_KEY="bench",
               NVIDIA_NIM_RATE_LIMIT="1000000", LOG_LEVEL="warning", WORKERS="1",
               CLAUDE_WORKSPACE=os.path.join(WORK, "agent_workspace"))
    if tls_ca:
        env["UPSTREAM_CA_FILE"] = tls_ca
    return env


def start_proxy(name, upstream_port, tls_ca=None, binary=None, extra_env=None):
    port = free_port()
    env = proxy_env(upstream_port, tls_ca)
    env.update(extra_env or {})
    # Started in the work folder so no .env of the checkout is read.
    server = Server(name, [binary or TOOLS["proxy"], "--host", "127.0.0.1", "--port", str(port)], env=env)
    server.port = port
    wait_http(server)
    workers = int(env.get("WORKERS", "1"))
    if workers > 1:
        # Connections that arrive before the worker loops are up go to the main loop.
        deadline = time.time() + 10
        while time.time() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if json.loads(conn.getresponse().read()).get("workers") == workers:
                break
            time.sleep(0.05)
    return server


def start_nginx(fixed_body, sse_body, upstream_port):
    """nginx as the ceiling: a fixed body answered from memory (`return 200`), the proxy's SSE answer
    served as a file, and the scripted upstream's own SSE relayed untranslated (`proxy_pass`,
    buffering off, keep-alive to the upstream) the way the proxy relays it."""
    root = os.path.join(WORK, "nginx")
    os.makedirs(os.path.join(root, "html"), exist_ok=True)
    with open(os.path.join(root, "html", "stream.sse"), "wb") as f:
        f.write(sse_body)
    port = free_port()
    # nginx's single-quoted string: backslash and quote escaped.
    literal = fixed_body.decode().replace("\\", "\\\\").replace("'", "\\'")
    # One process (no master) so its CPU and memory are one /proc entry, like the proxy's.
    conf = f"""
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    keepalive_requests 100000000;
    types {{ application/json json; text/event-stream sse; }}
    upstream scripted {{ server 127.0.0.1:{upstream_port}; keepalive 1024; }}
    server {{
        listen 127.0.0.1:{port};
        root {root}/html;
        location = /fixed {{ default_type application/json; return 200 '{literal}'; }}
        location = /stream {{ try_files /stream.sse =404; }}
        location /v1/ {{
            proxy_pass http://scripted;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"""
    path = os.path.join(root, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    server = Server("nginx", [shutil.which("nginx"), "-c", path, "-p", root])
    server.port = port
    wait_http(server, "/fixed")
    return server


def start_tls_front(upstream_port):
    """nginx terminating TLS with HTTP/2 in front of the scripted upstream, so the proxy reaches it
    the way it reaches NIM (HTTPS, HTTP/2 negotiated, streams sharing connections). Returns the
    server and the certificate file the proxy must trust."""
    root = os.path.join(WORK, "tls-front")
    os.makedirs(root, exist_ok=True)
    cert, key = os.path.join(root, "cert.pem"), os.path.join(root, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port = free_port()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    conf = f"""
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections {hard - 100}; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream scripted {{ server 127.0.0.1:{upstream_port}; keepalive 1024; }}
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        http2_max_concurrent_streams 128;
        keepalive_requests 100000000;
        location / {{
            proxy_pass http://scripted;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""
    path = os.path.join(root, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    server = Server("tls-front", [shutil.which("nginx"), "-c", path, "-p", root])
    server.port = port
    deadline = time.time() + 30
    while True:
        server.alive_or_fail()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                raise RuntimeError("tls-front did not listen")
            time.sleep(0.05)
    return server, cert


def start_litellm(upstream_port):
    root = os.path.join(WORK, "litellm")
    os.makedirs(root, exist_ok=True)
    config = os.path.join(root, "config.yaml")
    with open(config, "w") as f:
        f.write(f"""model_list:
  - model_name: claude-3-5-haiku-20241022
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:{upstream_port}/v1
      api_key: bench
litellm_settings:
  use_chat_completions_url_for_anthropic_messages: true
general_settings:
  master_key: sk-bench
""")
    env = dict(os.environ)
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES="True",
               LITELLM_LOG="ERROR")
    port = free_port()
    server = Server("litellm", [TOOLS["litellm"], "--config", config, "--host", "127.0.0.1", "--port", str(port),
                                "--num_workers", "1"], env=env, cwd=root)
    server.port = port
    wait_http(server, "/health/liveliness", timeout=180)
    return server


def fetch_body(port, path, body, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"POST {path} on {port}: {response.status} {data[:300]!r}")
    return data


def measured(servers, action):
    """Runs action(); returns (its result, CPU seconds each server used meanwhile)."""
    before = [s.cpu_seconds() for s in servers]
    result = action()
    return result, [s.cpu_seconds() - b for s, b in zip(servers, before)]


def run_streams(port, n, c, path="/v1/messages", body=None, method="POST", headers=(), timeout=300, keep_alive=False):
    argv = [TOOLS["bench"], "streams", "--port", str(port), "--path", path, "--method", method,
            "--streams", str(n), "--concurrency", str(c), "--timeout-s", str(timeout), "--quiet", "1",
            "--keep-alive", "1" if keep_alive else "0"]
    if body is not None:
        body_path = os.path.join(WORK, f"body-{port}-{len(body)}.json")
        with open(body_path, "wb") as f:
            f.write(body)
        argv += ["--body-file", body_path]
    for header in headers:
        argv += ["--header", header]
    out = subprocess.run(argv, check=True, capture_output=True, timeout=timeout + 60).stdout
    result = json.loads(out)
    if result["errors"]:
        log(f"  {result['errors']} stream errors: {result['error_kinds']}")
    return result


def parse_wrk_duration(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def run_wrk(url, threads, connections, seconds, script=None, env=None):
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        argv += ["-s", os.path.join(BENCH, "wrk", script)]
    out = subprocess.run(argv + [url], check=True, capture_output=True, text=True, env=env,
                         timeout=seconds + 60).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
              "requests": int(re.search(r"(\d+) requests in", out).group(1)),
              "non2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
              "socket_errors": out.count("Socket errors")}
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        result[f"p{pct}_s"] = parse_wrk_duration(m.group(1)) if m else None
    if result["non2xx"]:
        log(f"  wrk: {result['non2xx']} non-2xx responses")
    return result


# --- parts ----------------------------------------------------------------------------------


def part_startup(P, M):
    log("startup and idle memory")
    runs = []
    for _ in range(P["startups"]):
        port = free_port()
        out = subprocess.run([TOOLS["bench"], "startup", "--port", str(port), "--idle-ms", str(P["idle_ms"]), "--",
                              TOOLS["proxy"], "--host", "127.0.0.1", "--port", str(port)],
                             env=proxy_env(9), cwd=WORK, check=True, capture_output=True, timeout=60).stdout
        runs.append(json.loads(out))
    M["startup_ms"] = statistics.median(r["start_to_connect_ms"] for r in runs)
    M["startup_first_response_ms"] = statistics.median(r["start_to_first_response_ms"] for r in runs)
    M["proxy_idle_rss_mb"] = statistics.median(r["rss_idle_kb"] for r in runs) / 1024


def part_tokenizer(P, M):
    log("tokenizer throughput")
    text_path = os.path.join(WORK, "fixture-text.txt")
    cache = os.path.join(WORK, "tiktoken-cache")
    os.makedirs(cache, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "CL100KRanks", "cl100k_base.tiktoken"),
                os.path.join(cache, "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"))
    env = dict(os.environ, TIKTOKEN_CACHE_DIR=cache)
    python = json.loads(subprocess.run([TOOLS["python"], os.path.join(BENCH, "tiktoken_bench.py"), FIXTURES, text_path,
                                        str(P["tokenize_s"])], env=env, check=True, capture_output=True,
                                       timeout=600).stdout)
    swift = json.loads(subprocess.run([TOOLS["bench"], "tokenize", "--text-file", text_path, "--seconds",
                                       str(P["tokenize_s"])], check=True, capture_output=True, timeout=600).stdout)
    if python["tokens"] != swift["tokens"]:
        log(f"  token counts differ: tiktoken {python['tokens']}, ours {swift['tokens']}")
    M["tokenizer_text_kb"] = swift["bytes"] / 1024
    M["tokenizer_tokens_equal"] = python["tokens"] == swift["tokens"]
    M["tokenizer_mb_s"] = swift["mb_per_s"]
    M["tiktoken_mb_s"] = python["mb_per_s"]


def part_request_response(P, M, proxy, nginx):
    log("request/response: nginx fixed body, quota fast path")
    wrk_nginx, (cpu,) = measured([nginx], lambda: run_wrk(f"http://127.0.0.1:{nginx.port}/fixed", 2, 50, P["wrk_s"]))
    M["nginx_fixed_rps"] = wrk_nginx["rps"]
    M["nginx_fixed_cpu_us"] = cpu / wrk_nginx["requests"] * 1e6
    wrk_quota, (cpu,) = measured([proxy], lambda: run_wrk(f"http://127.0.0.1:{proxy.port}/v1/messages", 2, 50,
                                                        P["wrk_s"], "quota.lua"))
    M["quota_rps"] = wrk_quota["rps"]
    M["quota_cpu_us"] = cpu / wrk_quota["requests"] * 1e6
    M["quota_errors"] = wrk_quota["non2xx"]


def part_count_tokens(P, M, proxy):
    log("count_tokens on the largest fixture")
    largest = max(os.listdir(FIXTURES), key=lambda name: os.path.getsize(os.path.join(FIXTURES, name)))
    with open(os.path.join(FIXTURES, largest)) as f:
        body = json.load(f)["body"]
    body_path = os.path.join(WORK, "count-tokens-body.json")
    with open(body_path, "w") as f:
        json.dump(body, f)
    env = dict(os.environ, BODY_FILE=body_path)
    result, (cpu,) = measured([proxy], lambda: run_wrk(f"http://127.0.0.1:{proxy.port}/v1/messages/count_tokens",
                                                     1, 1, P["count_s"], "post_file.lua", env))
    M["count_tokens_fixture"] = largest
    M["count_tokens_body_kb"] = os.path.getsize(body_path) / 1024
    M["count_tokens_p50_ms"] = result["p50_s"] * 1e3
    M["count_tokens_p99_ms"] = result["p99_s"] * 1e3
    M["count_tokens_cpu_ms"] = cpu / result["requests"] * 1e3
    M["count_tokens_errors"] = result["non2xx"]


def part_streaming(P, M, upstream, proxy, nginx):
    log(f"streaming throughput: {CHUNKS}-chunk answers")
    n, c = P["stream_n"], P["stream_c"]
    direct, (up_cpu,) = measured([upstream], lambda: run_streams(upstream.port, n, c, "/v1/chat/completions", OPENAI_BODY))
    M["direct_streams_s"] = direct["streams_per_s"]
    M["upstream_cpu_us_per_chunk"] = up_cpu / max(1, direct["completed"] * CHUNKS) * 1e6
    ours, (cpu, up_cpu) = measured([proxy, upstream], lambda: run_streams(proxy.port, n, c, body=STREAM_BODY))
    M["proxy_streams_s"] = ours["streams_per_s"]
    M["proxy_stream_errors"] = ours["errors"]
    M["proxy_cpu_us_per_chunk"] = cpu / max(1, ours["completed"] * CHUNKS) * 1e6
    M["proxy_stream_bytes"] = ours["bytes"] / max(1, ours["completed"])
    ceiling, (cpu,) = measured([nginx], lambda: run_streams(nginx.port, n, c, "/stream", method="GET"))
    M["nginx_sse_streams_s"] = ceiling["streams_per_s"]
    M["nginx_sse_cpu_us_per_chunk"] = cpu / max(1, ceiling["completed"] * CHUNKS) * 1e6
    relay, (cpu, up_cpu) = measured([nginx, upstream], lambda: run_streams(nginx.port, n, c, "/v1/chat/completions",
                                                                          OPENAI_BODY))
    M["nginx_relay_streams_s"] = relay["streams_per_s"]
    M["nginx_relay_errors"] = relay["errors"]
    M["nginx_relay_cpu_us_per_chunk"] = cpu / max(1, relay["completed"] * CHUNKS) * 1e6


def part_litellm(P, M, upstream):
    log("LiteLLM: start, idle memory, streams")
    litellm = start_litellm(upstream.port)
    try:
        time.sleep(P["idle_ms"] / 1000)
        M["litellm_idle_rss_mb"] = litellm.status_kb("VmRSS") / 1024
        headers = ["x-api-key: sk-bench"]
        run_streams(litellm.port, 2, 1, body=STREAM_BODY, headers=headers)  # first-request imports
        result, (cpu,) = measured([litellm], lambda: run_streams(litellm.port, P["litellm_n"], P["litellm_c"],
                                                               body=STREAM_BODY, headers=headers, timeout=600))
        M["litellm_streams_s"] = result["streams_per_s"]
        M["litellm_stream_errors"] = result["errors"]
        M["litellm_cpu_us_per_chunk"] = cpu / max(1, result["completed"] * CHUNKS) * 1e6
    finally:
        litellm.stop()


def part_setup(P, M):
    """Server CPU per stream of a one-chunk answer over keep-alive client connections: what starting
    and ending a stream costs, nearly nothing of it relaying. Beside it, in the same run: the baseline
    binary (--baseline-proxy) and nginx relaying the same upstream's one-chunk stream untranslated."""
    n, c = P["setup_n"], 32
    log(f"stream set-up: {n} one-chunk streams over {c} keep-alive connections")
    upstream = start_upstream("upstream-one-chunk", 1)
    nginx = start_nginx(QUOTA_BODY, b"", upstream.port)
    binaries = [("proxy", TOOLS["proxy"])] + ([("baseline", TOOLS["baseline"])] if TOOLS.get("baseline") else [])
    try:
        run_streams(upstream.port, 10, 1, "/v1/chat/completions", OPENAI_BODY)
        relay, (cpu,) = measured([nginx], lambda: run_streams(nginx.port, n, c, "/v1/chat/completions", OPENAI_BODY,
                                                             keep_alive=True))
        M["setup_nginx_cpu_us"] = cpu / max(1, relay["completed"]) * 1e6
        direct, (cpu,) = measured([upstream], lambda: run_streams(upstream.port, n, c, "/v1/chat/completions",
                                                                 OPENAI_BODY, keep_alive=True))
        M["setup_upstream_cpu_us"] = cpu / max(1, direct["completed"]) * 1e6
        for name, binary in binaries:
            proxy = start_proxy(f"{name}-setup", upstream.port, binary=binary)
            try:
                run_streams(proxy.port, 10, 1, body=STREAM_BODY, keep_alive=True)  # tokenizer tables, pools
                # Three runs, the median: a 10 ms CPU tick is a large share of a short run.
                runs = []
                for _ in range(3):
                    result, (cpu,) = measured([proxy], lambda: run_streams(proxy.port, n, c, body=STREAM_BODY,
                                                                          keep_alive=True))
                    runs.append((cpu / max(1, result["completed"]) * 1e6, result))
                cpu_us, result = sorted(runs, key=lambda r: r[0])[1]
                M[f"setup_{name}_cpu_us"] = cpu_us
                M[f"setup_{name}_errors"] = sum(r[1]["errors"] for r in runs)
                M[f"setup_{name}_streams_s"] = result["streams_per_s"]
            finally:
                proxy.stop()
    finally:
        nginx.stop()
        upstream.stop()


def part_workers(P, M):
    """Streams/s and CPU per chunk with WORKERS=1 and WORKERS=2, same binary, same run."""
    n, c = P["stream_n"], 64
    log(f"worker loops: {n} {CHUNKS}-chunk streams, {c} at once, WORKERS=1 then 2")
    upstream = start_upstream("upstream-workers", CHUNKS)
    try:
        direct = run_streams(upstream.port, n, c, "/v1/chat/completions", OPENAI_BODY)
        M["workers_direct_streams_s"] = direct["streams_per_s"]
        for workers in (1, 2):
            proxy = start_proxy(f"proxy-workers{workers}", upstream.port, extra_env={"WORKERS": str(workers)})
            try:
                run_streams(proxy.port, 20, 4, body=STREAM_BODY)
                result, (cpu, up_cpu) = measured([proxy, upstream], lambda: run_streams(proxy.port, n, c, body=STREAM_BODY))
                M[f"workers{workers}_streams_s"] = result["streams_per_s"]
                M[f"workers{workers}_errors"] = result["errors"]
                M[f"workers{workers}_cpu_us_per_chunk"] = cpu / max(1, result["completed"] * CHUNKS) * 1e6
                M[f"workers{workers}_upstream_cpu_share"] = up_cpu / max(1e-9, result["wall_s"])
                # The local-answer path needs no upstream: the proxy's own loops are the limit.
                wrk = run_wrk(f"http://127.0.0.1:{proxy.port}/v1/messages", 1, 64, max(1, P["wrk_s"] // 2), "quota.lua")
                M[f"workers{workers}_quota_rps"] = wrk["rps"]
                M[f"workers{workers}_quota_errors"] = wrk["non2xx"]
            finally:
                proxy.stop()
    finally:
        upstream.stop()


def part_first_byte(P, M):
    chunks, delay = P["ttfb_chunks"], P["ttfb_delay"]
    log(f"time to first byte: 100 concurrent streams of {chunks} chunks {delay} ms apart")
    upstream = start_upstream("upstream-paced", chunks, delay_ms=delay)
    proxy = start_proxy("proxy-ttfb", upstream.port)
    try:
        n = P["ttfb_n"]
        # One request each first: the figure is the steady state, not a cold start (the proxy
        # builds its tokenizer tables on first use).
        run_streams(upstream.port, 1, 1, "/v1/chat/completions", OPENAI_BODY)
        run_streams(proxy.port, 1, 1, body=STREAM_BODY)
        direct = run_streams(upstream.port, n, 100, "/v1/chat/completions", OPENAI_BODY)
        ours = run_streams(proxy.port, n, 100, body=STREAM_BODY)
        for key in ("ttfb", "ttfc"):
            for pct in ("p50", "p90", "p99", "p999"):
                M[f"direct_{key}_{pct}_ms"] = direct[f"{key}_{pct}_us"] / 1e3
                M[f"proxy_{key}_{pct}_ms"] = ours[f"{key}_{pct}_us"] / 1e3
        M["ttfb_errors"] = direct["errors"] + ours["errors"]
    finally:
        proxy.stop()
    # The same burst through the baseline binary and with two worker loops, against the same upstream.
    others = ([("baseline", TOOLS["baseline"], {})] if TOOLS.get("baseline") else []) + [("workers2", None, {"WORKERS": "2"})]
    try:
        for name, binary, extra in others:
            proxy = start_proxy(f"{name}-ttfb", upstream.port, binary=binary, extra_env=extra)
            try:
                run_streams(proxy.port, 1, 1, body=STREAM_BODY)
                result = run_streams(proxy.port, n, 100, body=STREAM_BODY)
                M[f"{name}_ttfc_p99_ms"] = result["ttfc_p99_us"] / 1e3
                M[f"{name}_ttfc_p50_ms"] = result["ttfc_p50_us"] / 1e3
                M["ttfb_errors"] += result["errors"]
            finally:
                proxy.stop()
    finally:
        upstream.stop()


def count_descriptors(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def concurrent_streams(P, plain):
    """Holds as many concurrent paced streams as the open-file limit allows (up to P["tenk_n"]);
    returns the figures. `plain`: HTTP/1.1 straight to the scripted upstream; otherwise HTTPS with
    HTTP/2 through nginx terminating TLS in front of it, the way the proxy reaches NIM."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Over HTTP/1.1 the proxy holds two descriptors per stream (client and upstream side); over
    # HTTP/2 streams share upstream connections, so about one.
    n = min(P["tenk_n"], (hard - 200) // 2 if plain else hard - 400)
    chunks, delay = P["tenk_chunks"], P["tenk_delay"]
    log(f"{n} concurrent streams, {chunks} chunks {delay} ms apart, upstream over "
        f"{'HTTP/1.1' if plain else 'HTTPS with HTTP/2'} (descriptor limit {hard})")
    upstream = start_upstream("upstream-slow", chunks, delay_ms=delay)
    front, ca = (None, None) if plain else start_tls_front(upstream.port)
    proxy = start_proxy("proxy-10k", front.port if front else upstream.port, tls_ca=ca)
    peak_fds = [0]
    sampling = threading.Event()

    def sample():
        while not sampling.wait(0.5):
            peak_fds[0] = max(peak_fds[0], count_descriptors(proxy.proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        timeout = chunks * delay / 1000 + 120
        result, (cpu,) = measured([proxy], lambda: run_streams(proxy.port, n, n, body=STREAM_BODY, timeout=timeout))
        sampling.set()
        sampler.join()
        proxy.alive_or_fail()
        return dict(peak_fds=peak_fds[0], upstream_http="1.1" if plain else "2", streams=n, fd_limit=hard,
                    completed=result["completed"], errors=result["errors"], error_kinds=result["error_kinds"],
                    peak_active=result["peak_active"], rss_peak_mb=proxy.status_kb("VmHWM") / 1024,
                    wall_s=result["wall_s"], cpu_s=cpu, ttfc_p99_ms=result["ttfc_p99_us"] / 1e3)
    finally:
        sampling.set()
        proxy.stop()
        if front:
            front.stop()
        upstream.stop()


# Where a stream's heap goes, from massif's peak snapshot: the first frame of a known library on
# the way from the allocation to its callers names the part. Checked in order.
# Debian's libraries keep only their exported symbols, so a library's own name counts too.
HEAP_PARTS = [
    ("HTTP/2 state (nghttp2)", re.compile(r"nghttp2_|/libnghttp2\.so")),
    ("TLS (OpenSSL)", re.compile(r"\b(SSL_|ssl3_|ssl_|tls_|CRYPTO_|BIO_|EVP_|OPENSSL_)|/libssl\.so|/libcrypto\.so")),
    # libcurl's own functions are hidden in Debian's build (frames "???" in libcurl.so, looked through);
    # the entry point an allocation came through names it.
    ("curl easy handle", re.compile(r"\bcurl_easy_(init|duphandle|reset)\b")),
    ("curl options", re.compile(r"\b(curl_easy_setopt|curl_slist_append)\b")),
    ("curl transfer (buffers, stream state)", re.compile(r"\bcurl_multi_(socket_action|add_handle|perform|remove_handle)\b")),
    ("curl, other", re.compile(r"\b(Curl_|curl_)")),
    ("libuv", re.compile(r"\buv_|/libuv\.so")),
    ("Swift objects and arrays", re.compile(r"\bswift_")),
]


def massif_peak_parts(path):
    """Bytes by part at the detailed massif snapshot holding the most, leaving out the tokenizer's
    tables (made once, and their construction's transient peak is not a stream's); and that total."""
    lines = open(path, errors="replace").read().splitlines()
    node = re.compile(r"^(\s*)n(\d+): (\d+) (.*)$")
    mangled = re.compile(r"\$s(\d+)")

    def walk(i):
        """Parses the node at line i; returns (index after its subtree, (bytes, frame, children))."""
        m = node.match(lines[i])
        count, size, frame = int(m.group(2)), int(m.group(3)), m.group(4)
        children, j = [], i + 1
        for _ in range(count):
            j, child = walk(j)
            children.append(child)
        return j, (size, frame, children)

    def add(parts, key, size):
        parts[key] = parts.get(key, 0) + size

    def swift_module(parts, tree):
        """Swift allocations by the module of the first Swift function that asked (a mangled
        `$s<length><Module>` name)."""
        size, frame, children = tree
        m = mangled.search(frame)
        if m:
            add(parts, "Swift: " + frame[m.end():m.end() + int(m.group(1))], size)
            return
        for child in children:
            swift_module(parts, child)
        add(parts, "Swift: runtime", size - sum(c[0] for c in children))

    def assign(parts, tree):
        size, frame, children = tree
        if "???" in frame and "/libcurl.so" in frame and children:
            for child in children:
                assign(parts, child)
            add(parts, "curl, other", size - sum(c[0] for c in children))
            return
        for name, pattern in HEAP_PARTS:
            if pattern.search(frame):
                if name.startswith("Swift"):
                    swift_module(parts, tree)
                else:
                    add(parts, name, size)
                return
        for child in children:
            assign(parts, child)
        add(parts, "other", size - sum(c[0] for c in children))

    best, best_parts = -1, {}
    for i, line in enumerate(lines):
        # snapshot=, a rule, time=, mem_heap_B=, mem_heap_extra_B=, mem_stacks_B=, heap_tree=
        if line.startswith("snapshot=") and lines[i + 6] == "heap_tree=detailed":
            parts = {}
            _, root = walk(i + 7)
            for child in root[2]:
                assign(parts, child)
            parts = {k: v for k, v in parts.items() if v}
            total = sum(v for k, v in parts.items() if k != "Swift: Tokenizer")
            if total > best:
                best, best_parts = total, parts
    best_parts.pop("Swift: Tokenizer", None)
    return best_parts, max(best, 0)


def heap_run(P, n):
    """Massif's peak heap parts with n concurrent paced streams over HTTPS with HTTP/2."""
    chunks, delay = 20, 500
    upstream = start_upstream(f"upstream-heap{n}", chunks, delay_ms=delay)
    front, ca = start_tls_front(upstream.port)
    out = os.path.join(WORK, f"massif-{n}.out")
    # valgrind 3.19 cannot read the toolchain's DWARF 5: a copy without debug information.
    binary = os.path.join(WORK, "nim-proxy-nodebug")
    if not os.path.exists(binary):
        shutil.copy(TOOLS["proxy"], binary)
        subprocess.run(["strip", "--strip-debug", binary], check=True)
    port = free_port()
    proxy = Server(f"proxy-heap{n}", ["valgrind", "--tool=massif", f"--massif-out-file={out}", "--depth=40",
                                      "--threshold=0.2", "--detailed-freq=1", "--max-snapshots=200",
                                      binary, "--host", "127.0.0.1", "--port", str(port)],
                   env=proxy_env(front.port, ca))
    proxy.port = port
    try:
        wait_http(proxy, timeout=120)
        run_streams(proxy.port, 2, 1, body=STREAM_BODY, timeout=120)
        result = run_streams(proxy.port, n, n, body=STREAM_BODY, timeout=chunks * delay / 1000 + 300)
        proxy.stop()
    finally:
        proxy.stop()
        front.stop()
        upstream.stop()
    parts, peak = massif_peak_parts(out)
    return parts, peak, result


def part_heap(P, M):
    """Per-stream heap by part: the difference of two massif runs (few and many concurrent streams)
    over the number of streams between them, so what is made once (tokenizer tables, pools) drops out."""
    few, many = P["heap_few"], P["heap_many"]
    log(f"heap per stream: massif at {few} and {many} concurrent streams (HTTPS, HTTP/2 upstream)")
    small, small_peak, _ = heap_run(P, few)
    large, large_peak, result = heap_run(P, many)
    M["heap_streams"] = many
    M["heap_completed"] = result["completed"]
    M["heap_errors"] = result["errors"]
    M["heap_per_stream_bytes"] = (large_peak - small_peak) / (many - few)
    M["heap_parts_per_stream_bytes"] = {k: (large.get(k, 0) - small.get(k, 0)) / (many - few)
                                        for k in sorted(set(large) | set(small))}


def part_ten_thousand(P, M):
    # HTTPS with HTTP/2 is the figure (HTTP/2 without TLS is no option with Debian 12's libcurl,
    # 7.88, which cannot reuse such connections); HTTP/1.1 is measured beside it, as far as the
    # open-file limit allows. BENCH_UPSTREAM_PLAIN=1 makes HTTP/1.1 the figure.
    plain = os.environ.get("BENCH_UPSTREAM_PLAIN") == "1"
    for key, value in concurrent_streams(P, plain).items():
        M["tenk_" + key] = value
    if not plain:
        for key, value in concurrent_streams(P, True).items():
            M["tenk_plain_" + key] = value


# --- report ---------------------------------------------------------------------------------


def ratio(a, b):
    return a / b if b else float("nan")


def fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if value != value:
            return "n/a"
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def tenk_verdict(M):
    """Met only with the full count; when the open-file limit caps the run, say what held at the
    count that could run instead of a bare 'not met'."""
    held = (M["tenk_completed"] == M["tenk_streams"] and M["tenk_errors"] == 0
            and M["tenk_rss_peak_mb"] <= 200)
    if held and M["tenk_streams"] >= P_USED["tenk_n"]:
        return verdict(True)
    if held:
        return (f"**not run at {P_USED['tenk_n']:,}**: the open-file limit ({M['tenk_fd_limit']:,}) allows "
                f"{M['tenk_streams']:,}; at that count all complete, 0 errors, RSS within the bar")
    return verdict(False)


def rows(M):
    g = M.get
    out = []
    if "quota_rps" in M:
        r = ratio(M["quota_rps"], M["nginx_fixed_rps"])
        out.append(("quota fast path, `wrk -t2 -c50`", f"{fmt(M['quota_rps'])} req/s, {fmt(M['quota_cpu_us'])} µs CPU/req",
                    f"nginx fixed body {fmt(M['nginx_fixed_rps'])} req/s, {fmt(M['nginx_fixed_cpu_us'])} µs CPU/req",
                    f"{r:.2f} x nginx", ">= 0.5 x nginx", verdict(r >= 0.5 and not M["quota_errors"])))
    if "quota_cpu_us" in M:
        r = ratio(M["quota_cpu_us"], M["nginx_fixed_cpu_us"])
        out.append(("local answer (quota fast path): server CPU per request", f"{fmt(M['quota_cpu_us'])} µs",
                    f"nginx `return 200` from memory {fmt(M['nginx_fixed_cpu_us'])} µs", f"{r:.2f} x nginx",
                    "<= 2 x nginx", verdict(r <= 2 and not M["quota_errors"])))
    if "nginx_relay_cpu_us_per_chunk" in M:
        r = ratio(M["proxy_cpu_us_per_chunk"], M["nginx_relay_cpu_us_per_chunk"])
        out.append((f"streaming, {CHUNKS}-chunk answers: server CPU per chunk, translated vs relayed untranslated",
                    f"{fmt(M['proxy_cpu_us_per_chunk'])} µs",
                    f"nginx `proxy_pass` of the upstream's SSE, buffering off: {fmt(M['nginx_relay_cpu_us_per_chunk'])} µs "
                    f"({fmt(M['nginx_relay_streams_s'])} streams/s)", f"{r:.2f} x nginx", "<= 2 x nginx",
                    verdict(r <= 2 and not M["proxy_stream_errors"] and not M["nginx_relay_errors"])))
    if "setup_proxy_cpu_us" in M:
        base = g("setup_baseline_cpu_us")
        out.append(("stream set-up: server CPU per one-chunk stream, keep-alive clients",
                    f"{fmt(M['setup_proxy_cpu_us'])} µs ({fmt(M['setup_proxy_streams_s'])} streams/s)",
                    (f"{g('baseline_name')} {fmt(base)} µs; " if base else "")
                    + f"nginx relaying the same stream {fmt(M['setup_nginx_cpu_us'])} µs; upstream itself {fmt(M['setup_upstream_cpu_us'])} µs",
                    (f"{ratio(M['setup_proxy_cpu_us'], base):.2f} x {g('baseline_name')}, " if base else "")
                    + f"{ratio(M['setup_proxy_cpu_us'], M['setup_nginx_cpu_us']):.2f} x nginx",
                    "<= 25 µs", verdict(M["setup_proxy_cpu_us"] <= 25 and not M["setup_proxy_errors"])))
    if "workers2_streams_s" in M:
        r = ratio(M["workers2_streams_s"], M["workers1_streams_s"])
        out.append((f"every core: {CHUNKS}-chunk streams/s, 64 at once, WORKERS=2",
                    f"{fmt(M['workers2_streams_s'])} streams/s, {fmt(M['workers2_cpu_us_per_chunk'])} µs CPU/chunk",
                    f"WORKERS=1 {fmt(M['workers1_streams_s'])} streams/s, {fmt(M['workers1_cpu_us_per_chunk'])} µs CPU/chunk; "
                    f"direct to the upstream {fmt(M['workers_direct_streams_s'])} streams/s",
                    f"{r:.2f} x one loop", "more than one loop", verdict(r > 1 and not M["workers1_errors"] and not M["workers2_errors"])))
        if "workers2_quota_rps" in M:
            q = ratio(M["workers2_quota_rps"], M["workers1_quota_rps"])
            out.append(("every core: local answers (quota probe), `wrk -t1 -c64`, WORKERS=2",
                        f"{fmt(M['workers2_quota_rps'])} req/s", f"WORKERS=1 {fmt(M['workers1_quota_rps'])} req/s",
                        f"{q:.2f} x one loop", "more than one loop",
                        verdict(q > 1 and not M["workers1_quota_errors"] and not M["workers2_quota_errors"])))
    if "proxy_cpu_us_per_chunk" in M:
        out.append((f"streaming, {CHUNKS}-chunk answers: server CPU per relayed chunk",
                    f"{fmt(M['proxy_cpu_us_per_chunk'])} µs",
                    f"LiteLLM {fmt(g('litellm_cpu_us_per_chunk'))} µs; nginx SSE file {fmt(M['nginx_sse_cpu_us_per_chunk'])} µs",
                    f"{fmt(ratio(g('litellm_cpu_us_per_chunk') or float('nan'), M['proxy_cpu_us_per_chunk']))} x less than LiteLLM",
                    "<= 5 µs", verdict(M["proxy_cpu_us_per_chunk"] <= 5 and not M["proxy_stream_errors"])))
        lite = g("litellm_streams_s")
        r = ratio(M["proxy_streams_s"], lite) if lite else None
        out.append((f"streaming, {CHUNKS}-chunk answers: streams/s", f"{fmt(M['proxy_streams_s'])} streams/s",
                    f"LiteLLM {fmt(lite)}; direct to upstream {fmt(M['direct_streams_s'])}; nginx SSE file {fmt(M['nginx_sse_streams_s'])}",
                    f"{fmt(r)} x LiteLLM, {ratio(M['proxy_streams_s'], M['direct_streams_s']):.2f} x direct",
                    ">= 100 x LiteLLM", verdict(None if r is None else r >= 100)))
    if "tenk_streams" in M:
        out.append((f"{M['tenk_streams']:,} concurrent streams, {P_USED['tenk_chunks']} chunks {P_USED['tenk_delay']} ms apart"
                    + (", upstream over HTTPS with HTTP/2" if g("tenk_upstream_http") == "2" else ""),
                    f"{M['tenk_completed']:,} complete, {M['tenk_errors']} errors, peak RSS {fmt(M['tenk_rss_peak_mb'])} MB"
                    + (f", peak {M['tenk_peak_fds']:,} descriptors" if g("tenk_peak_fds") else ""),
                    f"{M['tenk_cpu_s']:.2f} s proxy CPU over {M['tenk_wall_s']:.1f} s"
                    + (f"; over HTTP/1.1: {M['tenk_plain_streams']:,} streams"
                       + (" (open-file limit)" if M["tenk_plain_streams"] < P_USED["tenk_n"] else "") + ", "
                       f"{M['tenk_plain_completed']:,} complete, {M['tenk_plain_errors']} errors, "
                       f"peak RSS {fmt(M['tenk_plain_rss_peak_mb'])} MB" if "tenk_plain_streams" in M else ""), "",
                    "all complete, 0 errors, RSS <= 200 MB",
                    tenk_verdict(M)))
    if "heap_per_stream_bytes" in M:
        parts = sorted(M["heap_parts_per_stream_bytes"].items(), key=lambda kv: -kv[1])
        out.append((f"heap per concurrent stream (massif, {M['heap_streams']:,} streams, HTTPS with HTTP/2)",
                    f"{M['heap_per_stream_bytes'] / 1024:.1f} KB",
                    "; ".join(f"{name} {value / 1024:.1f} KB" for name, value in parts if abs(value) >= 51), "",
                    "(the parts of the 10k figure)", "n/a"))
    if "proxy_ttfc_p99_ms" in M:
        added = M["proxy_ttfc_p99_ms"] - M["direct_ttfc_p99_ms"]
        others = "".join(f"; {label} +{M[key] - M['direct_ttfc_p99_ms']:.3f} ms" for label, key in
                         ((g("baseline_name"), "baseline_ttfc_p99_ms"), ("WORKERS=2", "workers2_ttfc_p99_ms")) if key in M)
        out.append(("first content byte added over direct, 100 concurrent streams, p99, one loop",
                    f"{fmt(M['proxy_ttfc_p99_ms'])} ms (first byte {fmt(M['proxy_ttfb_p99_ms'])} ms)",
                    f"direct {fmt(M['direct_ttfc_p99_ms'])} ms (first byte {fmt(M['direct_ttfb_p99_ms'])} ms)" + others,
                    f"+{added:.3f} ms", "<= 3 ms added", verdict(added <= 3 and not M["ttfb_errors"])))
    if "count_tokens_p50_ms" in M:
        out.append((f"`count_tokens`, largest fixture ({fmt(M['count_tokens_body_kb'])} KB), one connection",
                    f"p50 {fmt(M['count_tokens_p50_ms'])} ms round trip, {fmt(M['count_tokens_cpu_ms'])} ms server CPU/req",
                    "", "", "p50 <= 1 ms server time",
                    verdict(M["count_tokens_cpu_ms"] <= 1 and M["count_tokens_p50_ms"] <= 1 and not M["count_tokens_errors"])))
    if "tokenizer_mb_s" in M:
        r = ratio(M["tokenizer_mb_s"], M["tiktoken_mb_s"])
        out.append((f"tokenizer, cl100k_base, one thread, fixtures' text ({fmt(M['tokenizer_text_kb'])} KB)",
                    f"{fmt(M['tokenizer_mb_s'])} MB/s", f"tiktoken {fmt(M['tiktoken_mb_s'])} MB/s",
                    f"{r:.2f} x tiktoken", ">= 1 x", verdict(r >= 1 and M["tokenizer_tokens_equal"])))
    if "startup_ms" in M:
        out.append(("start to first accepted connection", f"{fmt(M['startup_ms'])} ms (first answer {fmt(M['startup_first_response_ms'])} ms)",
                    "", "", "<= 50 ms", verdict(M["startup_ms"] <= 50)))
        out.append(("RSS idle", f"{fmt(M['proxy_idle_rss_mb'])} MB",
                    f"LiteLLM {fmt(g('litellm_idle_rss_mb'))} MB; nginx {fmt(g('nginx_idle_rss_mb'))} MB",
                    f"{fmt(ratio(g('litellm_idle_rss_mb') or float('nan'), M['proxy_idle_rss_mb']))} x less than LiteLLM",
                    "<= 16 MB", verdict(M["proxy_idle_rss_mb"] <= 16)))
    return out


def write_charts(M, stem):
    if not all(k in M for k in ("quota_rps", "proxy_streams_s", "proxy_ttfc_p99_ms")):
        return None  # a partial run (--parts) has nothing to chart
    if not shutil.which("gnuplot"):
        log("gnuplot missing: no chart")
        return None
    data = os.path.join(WORK, "chart")
    os.makedirs(data, exist_ok=True)
    g = lambda k: M.get(k) or 0

    def table(name, lines):
        path = os.path.join(data, name)
        with open(path, "w") as f:
            for label, *values in lines:
                f.write(f'"{label}" ' + " ".join(str(v) for v in values) + "\n")
        return path

    rr = table("rr.dat", [("nginx fixed", g("nginx_fixed_rps")), ("nim-proxy quota", g("quota_rps"))])
    st = table("streams.dat", [("nginx SSE file", g("nginx_sse_streams_s")), ("direct upstream", g("direct_streams_s")),
                               ("nim-proxy", g("proxy_streams_s")), ("LiteLLM", g("litellm_streams_s"))])
    cpu = table("cpu.dat", [("nginx SSE file", g("nginx_sse_cpu_us_per_chunk")), ("nim-proxy", g("proxy_cpu_us_per_chunk")),
                            ("LiteLLM", g("litellm_cpu_us_per_chunk"))])
    lat = table("lat.dat", [(p, g(f"direct_ttfc_{p}_ms"), g(f"proxy_ttfc_{p}_ms")) for p in ("p50", "p90", "p99", "p999")])
    png = stem + ".png"
    script = f"""
set terminal pngcairo size 1200,800 font ",10"
set output "{png}"
set multiplot layout 2,2 title "nim-proxy benchmarks, {M['date']} (2 cores, load generator on the same machine)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key off
set yrange [0:*]
set title "request/response (wrk -t2 -c50): requests/s"
plot "{rr}" using 2:xtic(1) lc rgb "#4477aa"
set title "streams/s, {CHUNKS}-chunk answers (log scale)"
set logscale y
set yrange [0.01:*]
plot "{st}" using 2:xtic(1) lc rgb "#228833"
set title "server CPU per relayed chunk, µs (log scale)"
plot "{cpu}" using 2:xtic(1) lc rgb "#ee6677"
unset logscale y
set yrange [0:*]
set key outside right
set title "time to first content byte, 100 concurrent streams, ms"
plot "{lat}" using 2:xtic(1) title "direct" lc rgb "#bbbbbb", "" using 3 title "via nim-proxy" lc rgb "#4477aa"
unset multiplot
"""
    script_path = os.path.join(data, "charts.gp")
    with open(script_path, "w") as f:
        f.write(script)
    result = subprocess.run(["gnuplot", script_path], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        log(f"gnuplot failed: {result.stderr.strip()[-500:]}")
        return None
    return png


def write_report(M, quick, partial):
    date = M["date"]
    # Only a full run of every part is a result to keep; quick and partial runs go to the ignored tmp/,
    # unless BENCH_RESULT_NAME names the result (a partial run kept beside a full one of the same day).
    named = os.environ.get("BENCH_RESULT_NAME")
    folder = os.path.join(BENCH, "results", "tmp") if quick or (partial and not named) else os.path.join(BENCH, "results")
    os.makedirs(folder, exist_ok=True)
    stem = os.path.join(folder, named or (("quick-" if quick else "partial-" if partial else "") + date))
    with open(stem + ".json", "w") as f:
        json.dump(M, f, indent=1, sort_keys=True)
    png = write_charts(M, stem)
    lines = [f"# nim-proxy benchmarks, {date}{' (quick smoke run: numbers mean nothing)' if quick else ''}", "",
             f"Machine: {M['cpus']} cores, {M['kernel']}; load average {M['loadavg_start']} at start, "
             f"{M['loadavg_end']} at end. Load generators (wrk, bench-tool) run on the same cores as the servers.",
             f"Commit {M['commit']}. Rerun: `bash bench/run.sh` (or `--quick`).", "",
             "| figure | nim-proxy | baseline, same run | ratio | bar | result |", "|---|---|---|---|---|---|"]
    for row in rows(M):
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"![charts]({os.path.basename(png)})" if png else "", "",
              "CPU is utime+stime of the server process from /proc/<pid>/stat around each run (10 ms ticks); "
              "memory is VmRSS (idle, after start) and VmHWM (peak) from /proc/<pid>/status. "
              "Time to first byte via nim-proxy counts its `message_start`, which it sends before the upstream "
              "answers, so the bar is judged on the first content byte (the first text delta), the delay a user sees.",
              "", "Raw figures: `" + os.path.basename(stem) + ".json`.", ""]
    if M.get("notes"):
        lines += ["Notes:", ""] + [f"- {note}" for note in M["notes"]] + [""]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines))
    log(f"wrote {stem}.md")
    print("\n".join(lines))


# --- main -----------------------------------------------------------------------------------


def main():
    global WORK, TOOLS, RUNNING, P_USED
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="every part for a second or two (smoke test)")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--proxy", required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--bench-tool", required=True)
    parser.add_argument("--python", default=os.path.join(BENCH, ".venv", "bin", "python"))
    parser.add_argument("--baseline-proxy", help="another nim-proxy binary (an earlier commit's) measured beside "
                        "this one in the set-up and first-byte parts")
    parser.add_argument("--parts", default="all",
                        help="comma list: startup,tokenizer,rr,streams,setup,workers,ttfb,10k,heap")
    args = parser.parse_args()
    P = P_USED = QUICK if args.quick else FULL
    every = {"startup", "tokenizer", "rr", "streams", "setup", "workers", "ttfb", "10k", "heap"}
    parts = set(args.parts.split(",")) if args.parts != "all" else every
    if parts - every:
        parser.error(f"unknown parts: {', '.join(sorted(parts - every))}")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    WORK = tempfile.mkdtemp(prefix="nim-proxy-bench-")
    RUNNING = []
    litellm_bin = os.path.join(os.path.dirname(args.python), "litellm")
    # Absolute, since servers start in the work folder.
    TOOLS = {"proxy": os.path.abspath(args.proxy), "upstream": os.path.abspath(args.upstream),
             "bench": os.path.abspath(args.bench_tool), "python": os.path.abspath(args.python),
             "litellm": os.path.abspath(litellm_bin),
             "baseline": os.path.abspath(args.baseline_proxy) if args.baseline_proxy else None}
    M = {"date": datetime.date.today().isoformat(), "quick": args.quick, "cpus": os.cpu_count(),
         "kernel": os.uname().release, "loadavg_start": open("/proc/loadavg").read().split()[0],
         "commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                  text=True).stdout.strip(), "notes": []}
    if TOOLS["baseline"]:
        M["baseline_name"] = os.environ.get("BENCH_BASELINE_NAME", "baseline")
        M["notes"].append(f"The baseline binary ({M['baseline_name']}) is measured in the same run as this one.")
    if os.environ.get("BENCH_BUILD_NOTE"):
        M["notes"].append(os.environ["BENCH_BUILD_NOTE"] + ".")
    try:
        if "startup" in parts:
            part_startup(P, M)
        if "tokenizer" in parts:
            part_tokenizer(P, M)
        if parts & {"rr", "streams"}:
            upstream = start_upstream("upstream-static", CHUNKS)
            proxy = start_proxy("proxy", upstream.port)
            fixed = fetch_body(proxy.port, "/v1/messages", QUOTA_BODY)
            sse = fetch_body(proxy.port, "/v1/messages", STREAM_BODY)
            nginx = start_nginx(fixed, sse, upstream.port)
            time.sleep(0.5)
            M["nginx_idle_rss_mb"] = nginx.status_kb("VmRSS") / 1024
            if "rr" in parts:
                part_request_response(P, M, proxy, nginx)
                part_count_tokens(P, M, proxy)
            if "streams" in parts:
                part_streaming(P, M, upstream, proxy, nginx)
                if args.no_litellm or not os.path.exists(litellm_bin):
                    M["notes"].append("LiteLLM not run (--no-litellm or no bench/.venv).")
                else:
                    part_litellm(P, M, upstream)
            M["proxy_rss_after_load_mb"] = proxy.status_kb("VmRSS") / 1024
            for server in (nginx, proxy, upstream):
                server.stop()
        if "setup" in parts:
            part_setup(P, M)
        if "workers" in parts:
            part_workers(P, M)
        if "ttfb" in parts:
            part_first_byte(P, M)
        if "heap" in parts:
            part_heap(P, M)
        if "10k" in parts:
            part_ten_thousand(P, M)
            if M["tenk_streams"] < P["tenk_n"]:
                M["notes"].append(f"Only {M['tenk_streams']:,} concurrent streams: this machine's open-file hard limit is "
                                  f"{M['tenk_fd_limit']:,} and cannot be raised here.")
            if M.get("tenk_upstream_http") == "2":
                M["notes"].append("The concurrent-streams part reaches the scripted upstream through nginx terminating "
                                  "TLS with HTTP/2 (a self-signed certificate the proxy trusts via `UPSTREAM_CA_FILE`), "
                                  "the way the proxy reaches NIM: upstream streams share connections, so the proxy "
                                  "needs about one descriptor per stream. Over plain HTTP/1.1 it needs two, and this "
                                  "machine's open-file limit (20,000) stops that at 9,900 (`BENCH_UPSTREAM_PLAIN=1`).")
    finally:
        for server in list(RUNNING):
            server.stop()
        M["loadavg_end"] = open("/proc/loadavg").read().split()[0]
    write_report(M, args.quick, partial=args.parts != "all")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
