#!/usr/bin/python3
"""kubeapi_standin.py - the Kubernetes API stand-in of the e2e tests: an
HTTPS server (Python's http.server and ssl, from Debian's python3) that
serves the files under ROOT as the API's objects, a request path (with its
query, undecoded) naming a file, as `openssl s_server -WWW` did; and
applies a JSON merge patch (RFC 7386, Content-Type
application/merge-patch+json) sent with PATCH to the object's file, as the
API server does for `kubectl patch --type merge`.  Not a kube-apiserver: no
authentication, RBAC, watch or resourceVersion; every request is logged to
LOG as one JSON line (method, path, content type, Authorization header) for
the tests to check what a client sent.

  kubeapi_standin.py ROOT PORT CERT KEY LOG
"""
import http.server
import json
import os
import ssl
import sys


def merge(target, patch):
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge(target.get(k), v)
    return target


class Handler(http.server.BaseHTTPRequestHandler):
    def file(self):
        p = os.path.normpath(os.path.join(ROOT, self.path.lstrip("/")))
        return p if p.startswith(ROOT + os.sep) else None

    def note(self):
        with open(LOG, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "content_type": self.headers.get("Content-Type"),
                                "authorization": self.headers.get("Authorization")}) + "\n")

    def answer(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.note()
        p = self.file()
        if not p or not os.path.isfile(p):
            return self.answer(404, b'{"kind":"Status","code":404,"reason":"NotFound"}')
        with open(p, "rb") as f:
            self.answer(200, f.read())

    def do_PATCH(self):
        self.note()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        p = self.file()
        if self.headers.get("Content-Type") != "application/merge-patch+json":
            return self.answer(415, b'{"kind":"Status","code":415}')
        if not p or not os.path.isfile(p):
            return self.answer(404, b'{"kind":"Status","code":404,"reason":"NotFound"}')
        try:
            patch = json.loads(body)
        except ValueError:
            return self.answer(400, b'{"kind":"Status","code":400,"reason":"BadRequest"}')
        with open(p) as f:
            obj = merge(json.load(f), patch)
        out = json.dumps(obj).encode()
        with open(p + ".new", "wb") as f:
            f.write(out)
        os.rename(p + ".new", p)
        self.answer(200, out)

    def log_message(self, *args):
        pass


ROOT, PORT, CERT, KEY, LOG = os.path.realpath(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
srv = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
