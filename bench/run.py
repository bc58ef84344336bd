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
            count_s=5, tokenize_s=3, startups=5, idle_ms=1000)
QUICK = dict(wrk_s=1, stream_n=100, stream_c=16, litellm_n=10, litellm_c=5, ttfb_n=200,
             ttfb_chunks=10, ttfb_delay=50, tenk_n=200, tenk_chunks=2, tenk_delay=500,
             count_s=1, tokenize_s=0.5, startups=1, idle_ms=300)


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
    env.update(NVIDIA_NIM_BASE_URL=f"{scheme}://127.0.0.1:{upstream_port}/v1", NVIDIA_NIM_API_KEY="bench",
               NVIDIA_NIM_RATE_LIMIT="1000000", LOG_LEVEL="warning",
               CLAUDE_WORKSPACE=os.path.join(WORK, "agent_workspace"))
    if tls_ca:
        env["UPSTREAM_CA_FILE"] = tls_ca
    return env


def start_proxy(name, upstream_port, tls_ca=None):
    port = free_port()
    # Started in the work folder so no .env of the checkout is read.
    server = Server(name, [TOOLS["proxy"], "--host", "127.0.0.1", "--port", str(port)],
                    env=proxy_env(upstream_port, tls_ca))
    server.port = port
    wait_http(server)
    return server


def start_nginx(fixed_body, sse_body):
    root = os.path.join(WORK, "nginx")
    os.makedirs(os.path.join(root, "html"), exist_ok=True)
    with open(os.path.join(root, "html", "fixed.json"), "wb") as f:
        f.write(fixed_body)
    with open(os.path.join(root, "html", "stream.sse"), "wb") as f:
        f.write(sse_body)
    port = free_port()
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
    server {{
        listen 127.0.0.1:{port};
        root {root}/html;
        location = /fixed {{ try_files /fixed.json =404; }}
        location = /stream {{ try_files /stream.sse =404; }}
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


def run_streams(port, n, c, path="/v1/messages", body=None, method="POST", headers=(), timeout=300):
    argv = [TOOLS["bench"], "streams", "--port", str(port), "--path", path, "--method", method,
            "--streams", str(n), "--concurrency", str(c), "--timeout-s", str(timeout), "--quiet", "1"]
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
            and M["tenk_rss_peak_mb"] <= 256)
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
                    "all complete, 0 errors, RSS <= 256 MB",
                    tenk_verdict(M)))
    if "proxy_ttfc_p99_ms" in M:
        added = M["proxy_ttfc_p99_ms"] - M["direct_ttfc_p99_ms"]
        out.append(("first content byte added over direct, 100 concurrent streams, p99",
                    f"{fmt(M['proxy_ttfc_p99_ms'])} ms (first byte {fmt(M['proxy_ttfb_p99_ms'])} ms)",
                    f"direct {fmt(M['direct_ttfc_p99_ms'])} ms (first byte {fmt(M['direct_ttfb_p99_ms'])} ms)",
                    f"+{added:.3f} ms", "<= 1 ms added", verdict(added <= 1 and not M["ttfb_errors"])))
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
    # Only a full run of every part is a result to keep; quick and partial runs go to the ignored tmp/.
    folder = os.path.join(BENCH, "results", "tmp") if quick or partial else os.path.join(BENCH, "results")
    os.makedirs(folder, exist_ok=True)
    stem = os.path.join(folder, ("quick-" if quick else "partial-" if partial else "") + date)
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
    parser.add_argument("--parts", default="all", help="comma list: startup,tokenizer,rr,streams,ttfb,10k")
    args = parser.parse_args()
    P = P_USED = QUICK if args.quick else FULL
    parts = set(args.parts.split(",")) if args.parts != "all" else {"startup", "tokenizer", "rr", "streams", "ttfb", "10k"}

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    WORK = tempfile.mkdtemp(prefix="nim-proxy-bench-")
    RUNNING = []
    litellm_bin = os.path.join(os.path.dirname(args.python), "litellm")
    # Absolute, since servers start in the work folder.
    TOOLS = {"proxy": os.path.abspath(args.proxy), "upstream": os.path.abspath(args.upstream),
             "bench": os.path.abspath(args.bench_tool), "python": os.path.abspath(args.python),
             "litellm": os.path.abspath(litellm_bin)}
    M = {"date": datetime.date.today().isoformat(), "quick": args.quick, "cpus": os.cpu_count(),
         "kernel": os.uname().release, "loadavg_start": open("/proc/loadavg").read().split()[0],
         "commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                  text=True).stdout.strip(), "notes": []}
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
            nginx = start_nginx(fixed, sse)
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
        if "ttfb" in parts:
            part_first_byte(P, M)
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
