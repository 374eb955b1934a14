"""A recording HTTP receiver, run as its own process: ``python -m tests.integration.receiver
PORT OUT.jsonl``. Every POST is answered 200 (robots' paths, ``/dingtalk`` and ``/wecom``,
with ``{"errcode": 0}``) and appended to OUT as one JSON line: arrival time, path, query,
headers and body. It checks nothing: the tests do, on what it recorded."""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main(port: int, out: str) -> None:
    lock = threading.Lock()
    sink = open(out, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            path, _, query = self.path.partition("?")
            rec = {"t": time.time(), "path": path, "query": query, "headers": dict(self.headers),
                   "body": base64.b64encode(body).decode()}
            with lock:
                sink.write(json.dumps(rec) + "\n")
                sink.flush()
            answer = b'{"errcode":0,"errmsg":"ok"}' if path in ("/dingtalk", "/wecom") else b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):  # quiet
            pass

    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    srv.serve_forever()


def read(path) -> list[dict]:
    """The recorded requests, each with ``json`` (the decoded body) added."""
    out = []
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        return []
    # A line the server is still writing (no newline yet) is read next time: a large body
    # can reach the file in more than one write.
    for line in text.split("\n")[:-1]:
        if not line.strip():
            continue
        rec = json.loads(line)
        rec["raw"] = base64.b64decode(rec["body"])
        rec["json"] = json.loads(rec["raw"])
        out.append(rec)
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
