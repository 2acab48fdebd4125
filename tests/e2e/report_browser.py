#!/usr/bin/python3
"""report_browser.py - checks an HTML report of `flightrec report -o` in
Debian's chromium (headless), driven through chromedriver's WebDriver API
with nothing but the standard library.

usage: report_browser.py SPEC.json

SPEC: {"html": file, "shots": path prefix for the PNGs, "workloads": [...]
(exactly the topology's nodes), "edges": [[client, server, protocol], ...],
"findings": [substrings, each in one finding], "requests": N, "errors": N,
"click": workload to click, "alert": substring of an alert row or null,
"no_alerts": true when the page must have no alerts section}

Prints "ok ..." / "FAIL ..." per check and "N passed, N failed" last; exits
1 if a check failed, 2 if the browser could not be driven.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

PASS, FAIL = 0, 0


def check(ok, what, seen=None):
    global PASS, FAIL
    if ok:
        PASS += 1
        print("ok   " + what)
    else:
        FAIL += 1
        print("FAIL " + what + ("" if seen is None else ": saw " + repr(seen)[:400]))


class Driver:
    def __init__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.tmp = tempfile.mkdtemp(prefix="frhtml-chromium.")
        self.proc = subprocess.Popen(["/usr/bin/chromedriver", "--port=%d" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                if self.call("GET", "/status")["value"]["ready"]:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                "--user-data-dir=" + self.tmp, "--no-first-run", "--disable-extensions"]},
            "goog:loggingPrefs": {"performance": "ALL", "browser": "ALL"}}}}
        self.sid = self.call("POST", "/session", caps)["value"]["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.sid, path), body)["value"]

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def click(self, css):
        e = self.s("POST", "/element", {"using": "css selector", "value": css})
        self.s("POST", "/element/%s/click" % list(e.values())[0], {})

    def shot(self, path):
        r = self.s("POST", "/goog/cdp/execute", {"cmd": "Page.captureScreenshot",
                                                 "params": {"captureBeyondViewport": True}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def log(self, kind):
        return self.s("POST", "/se/log", {"type": kind})

    def close(self):
        try:
            self.call("DELETE", "/session/" + self.sid)
        finally:
            self.proc.terminate()
            self.proc.wait()
            shutil.rmtree(self.tmp, ignore_errors=True)


VISIBLE_ROWS = """
return [...document.querySelectorAll(arguments[0])].filter(t => !t.classList.contains('hid') && t.offsetParent !== null)
  .map(t => [t.dataset.client || '', t.dataset.server || '']);
"""


def main():
    spec = json.load(open(sys.argv[1]))
    url = "file://" + os.path.abspath(spec["html"])
    try:
        d = Driver()
    except Exception as e:  # the browser cannot be driven: not a pass
        print("FAIL cannot start chromium through chromedriver: %s" % e)
        print("0 passed, 1 failed")
        sys.exit(2)
    try:
        d.log("performance")  # reading the log empties it: the start page's events go
        t0 = time.monotonic()
        d.s("POST", "/url", {"url": url})
        for _ in range(200):
            if d.js("return document.body && document.body.dataset.ready") == "1":
                break
            time.sleep(0.05)
        load_s = time.monotonic() - t0
        check(d.js("return document.body.dataset.ready") == "1", "the page drew itself (%.2f s to ready)" % load_s)
        print("# render %s: %.2f s to ready" % (os.path.basename(spec["html"]), load_s))
        errs = [e for e in d.log("browser") if e.get("level") == "SEVERE"]
        check(not errs, "no script error", errs)

        nodes = d.js("return [...document.querySelectorAll('g.node')].map(n => n.dataset.w)")
        check(sorted(nodes) == sorted(spec["workloads"]), "topology workloads are %s" % sorted(spec["workloads"]), nodes)
        edges = d.js("return [...document.querySelectorAll('g.edge')].map(e => [e.dataset.c, e.dataset.s, e.dataset.proto])")
        for e in spec["edges"]:
            check(e in edges, "edge %s -> %s (%s) drawn" % tuple(e), edges)
        found = d.js("return [...document.querySelectorAll('li.finding')].map(l => l.textContent)")
        for f in spec["findings"]:
            check(any(f in x for x in found), "a finding says '%s'" % f, found)
        req = d.js("return document.querySelector('#stat-requests b').textContent")
        check(req.replace(",", "") == str(spec["requests"]), "header: %d requests" % spec["requests"], req)
        err = d.js("return document.querySelector('#stat-errors b').textContent")
        check(err.split(" ")[0].replace(",", "") == str(spec["errors"]), "header: %d errors" % spec["errors"], err)
        if spec.get("alert"):
            a = d.js("var e = document.getElementById('alerts'); return e ? e.textContent : ''")
            check(spec["alert"] in a, "the alerts table's row is shown", a)
        if spec.get("no_alerts"):
            check(d.js("return document.getElementById('alerts-h') === null"), "no alerts section without an alerts table")
        d.shot(spec["shots"] + "-full.png")

        w = spec["click"]
        before = d.js(VISIBLE_ROWS, "#fail tr[data-server], #slow tr[data-server]")
        others = [r for r in before if w not in r]
        d.click('g.node[data-w="%s"] rect.box' % w)
        check(d.js("return document.body.dataset.filter") == w, "clicking %s filters the page to it" % w,
              d.js("return document.body.dataset.filter"))
        after = d.js(VISIBLE_ROWS, "#fail tr[data-server], #slow tr[data-server]")
        check(after and all(w in r for r in after), "only %s's rows stay in slowest and failures" % w, after)
        check(len(after) == len(before) - len(others), "the other %d rows are hidden" % len(others),
              (len(before), len(after)))
        charts = d.js("return [...document.querySelectorAll('.chart h3')].map(h => h.textContent)")
        check(charts and all(w in c for c in charts), "golden signals show %s only" % w, charts)
        d.shot(spec["shots"] + "-filtered.png")

        d.click("#slow tr[data-req]:not(.hid)")
        drill = d.js("return document.getElementById('drillbody').textContent")
        check("Request #" in drill and "Connection #" in drill and d.js("return !!document.getElementById('timeline')"),
              "a slow request's drill-down shows it, its connection and timeline", drill[:200])
        d.click("#clearfilter")
        check(d.js("return document.body.dataset.filter") == "", "show all clears the filter")

        res = d.js("return performance.getEntriesByType('resource').map(r => r.name)")
        check(res == [], "the page loaded no resource", res)
        urls = []
        for e in d.log("performance"):
            m = json.loads(e["message"])["message"]
            # requests of the report's document (the browser's own start
            # page loads chrome:// resources of its own meanwhile)
            if m.get("method") == "Network.requestWillBeSent" and m["params"].get("documentURL") == url:
                urls.append(m["params"]["request"]["url"])
        net = [u for u in urls if u != url and not u.startswith("data:")]
        check(urls and not net, "no network request (only the file itself)", urls)
    finally:
        d.close()
    print("%d passed, %d failed" % (PASS, FAIL))
    sys.exit(1 if FAIL else 0)


if __name__ == "__main__":
    main()
