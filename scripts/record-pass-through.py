#!/usr/bin/env python3
"""A recording pass-through for the end-to-end tests: listens on 127.0.0.1 (any free port, printed
as `listening PORT`), forwards every request to TARGET unchanged and appends it to RECORD as one
JSON line: method, path, query, headers (without authorization and x-api-key) and body.

Answers are read whole and then sent on, so what the client gets is what TARGET sent, only later.

usage: record-pass-through.py TARGET_PORT RECORD
"""

import http.client
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

target_port = int(sys.argv[1])
record_path = sys.argv[2]
lock = threading.Lock()
SECRET = {"authorization", "x-api-key"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        entry = {"method": self.command, "path": path}
        if query:
            entry["query"] = query
        entry["headers"] = {k.lower(): v for k, v in self.headers.items() if k.lower() not in SECRET}
        if body:
            try:
                entry["body"] = json.loads(body)
            except ValueError:
                entry["body_text"] = body.decode("utf-8", "replace")
        with lock, open(record_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
        conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "accept-encoding")}
        headers["Host"] = f"127.0.0.1:{target_port}"
        conn.request(self.command, self.path, body=body or None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = forward


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
