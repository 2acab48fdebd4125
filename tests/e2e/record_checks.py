"""record_checks.py - assertions on `flightrec cat --json` output for the
recorder's e2e tests.  Each check prints "ok NAME" or "FAIL NAME: why".

usage: python3 record_checks.py CHECKS JSONL FACTS.json
CHECKS names a function below; FACTS is what the shell test knows (pod
addresses, container ids, what the clients sent and received)."""
import json
import sys
from collections import defaultdict


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    return recs


def payload(r):
    return r.get("payload", "").encode("latin-1")


class Rec:
    def __init__(self, recs):
        self.recs = recs
        self.procs = {}  # pid -> last PROCESS record
        self.pods = []
        self.opens = {}  # (pid, fd, gen) -> CONN_OPEN
        self.data = defaultdict(list)  # (pid, fd, gen, dir) -> [DATA]
        self.loss = []
        for r in recs:
            k = r["kind"]
            if k == "PROCESS":
                self.procs[r["pid"]] = r
            elif k == "POD":
                self.pods.append(r)
            elif k == "CONN_OPEN":
                self.opens[(r["pid"], r["fd"], r["gen"])] = r
            elif k == "DATA":
                self.data[(r["pid"], r["fd"], r["gen"], r["dir"])].append(r)
            elif k == "LOSS":
                self.loss.append(r)

    def pids_of(self, comm):
        return [p for p, r in self.procs.items() if r["comm"] == comm]

    def conns_of(self, pid):
        return [k for k in self.opens if k[0] == pid]

    def stream(self, conn, d):
        """(bytes, contiguous, all captured) of one direction, by stream_pos."""
        rs = sorted(self.data.get(conn + (d,), []), key=lambda r: r["stream_pos"])
        out = b""
        pos = rs[0]["stream_pos"] if rs else 0
        contiguous = full = True
        for r in rs:
            if r["stream_pos"] != pos:
                contiguous = False
            pos = r["stream_pos"] + r["orig_len"]
            if r["cap_len"] != r["orig_len"]:
                full = False
            out += payload(r)
        return out, contiguous, full

    def pod_of_container(self, cid):
        for p in self.pods:
            for c in p["containers"]:
                if c["id"] == cid:
                    return p, c
        return None, None


results = []


def check(name, cond, why=""):
    results.append(bool(cond))
    print(("ok " + name) if cond else ("FAIL %s: %s" % (name, why)))


def find_conn(rec, pid, local_port=None, remote_port=None, proto=6):
    for k in rec.conns_of(pid):
        o = rec.opens[k]
        if o["local"] is None or o["local"]["proto"] != proto:
            continue
        if local_port is not None and o["local"]["port"] != local_port:
            continue
        if remote_port is not None and (o["remote"] is None or o["remote"]["port"] != remote_port):
            continue
        return k
    return None


def attribution(rec, f, comm, pod, container, pid=None):
    pids = [pid] if pid else rec.pids_of(comm)
    check("%s has a PROCESS record" % comm, pids, "no PROCESS with comm %s" % comm)
    if not pids:
        return None
    p = rec.procs[pids[0]]
    want = f["cid"][pod + "/" + container]
    check("%s attributed to container %s/%s" % (comm, pod, container), p["container_id"] == want,
          "container_id %r, cgroup %r" % (p["container_id"], p["cgroup"]))
    podrec, c = rec.pod_of_container(p["container_id"])
    check("%s attributed to pod %s" % (comm, pod),
          podrec is not None and podrec["name"].startswith(pod + "-") and podrec["uid"] == f["uid"][pod]
          and podrec["owner_kind"] == "Deployment" and podrec["owner_name"] == pod
          and c["name"] == container,
          "pod record %r" % (podrec,))
    return pids[0]


def capture(rec, f):
    ip_srv, ip_cli = f["ip"]["srv"], f["ip"]["cli"]
    check("no LOSS at a modest rate", not rec.loss, "%d LOSS records" % len(rec.loss))
    check("POD records for both pods", len(rec.pods) >= 2, "%d POD records" % len(rec.pods))
    first_data = next((i for i, r in enumerate(rec.recs) if r["kind"] == "DATA"), len(rec.recs))
    first_pod = next((i for i, r in enumerate(rec.recs) if r["kind"] == "POD"), len(rec.recs))
    check("segment starts with pod metadata", first_pod < first_data)

    # ---- HTTP: curl -> nginx
    curl = attribution(rec, f, "curl", "cli", "client")
    nginx = attribution(rec, f, "nginx", "srv", "nginx")
    if curl and nginx:
        cport = f["curl"]["local_port"]
        cc = find_conn(rec, curl, local_port=cport)
        check("curl CONN_OPEN found", cc, "curl conns %r" % rec.conns_of(curl))
        sc = find_conn(rec, nginx, local_port=80, remote_port=cport)
        check("nginx CONN_OPEN found", sc, "nginx conns %r" % rec.conns_of(nginx))
        if cc and sc:
            o = rec.opens[cc]
            check("curl CONN_OPEN tuple", o["role"] == "client" and o["local"]["ip"] == ip_cli
                  and o["remote"]["ip"] == ip_srv and o["remote"]["port"] == 80, "%r" % o)
            o = rec.opens[sc]
            check("nginx CONN_OPEN tuple", o["role"] == "server" and o["local"]["ip"] == ip_srv
                  and o["remote"]["ip"] == ip_cli and o["remote"]["port"] == cport, "%r" % o)
            c_out, c1, f1 = rec.stream(cc, "egress")
            c_in, c2, f2 = rec.stream(cc, "ingress")
            s_in, c3, f3 = rec.stream(sc, "ingress")
            s_out, c4, f4 = rec.stream(sc, "egress")
            check("curl streams contiguous and complete", c1 and c2 and f1 and f2)
            check("nginx streams contiguous and complete", c3 and c4 and f3 and f4)
            check("curl sent %d bytes" % f["curl"]["sent"], len(c_out) == f["curl"]["sent"],
                  "captured %d" % len(c_out))
            check("curl received %d bytes" % f["curl"]["received"], len(c_in) == f["curl"]["received"],
                  "captured %d" % len(c_in))
            check("request bytes equal on both ends", c_out == s_in)
            check("response bytes equal on both ends", c_in == s_out)
            body = open(f["body_file"], "rb").read()
            check("response body captured in order", c_in.endswith(body))
            check("request line captured", c_out.startswith(b"GET /index.html HTTP/1.1\r\n"))
            tok = f["http_secret"].encode()
            check("Authorization value redacted (same length)",
                  b"Authorization: " + b"*" * len(b"Bearer " + tok) + b"\r\n" in c_out and tok not in c_out
                  and tok not in s_in, repr(c_out[:300]))
            flags = [r["flags"] for r in rec.data[cc + ("egress",)]]
            check("redacted DATA flagged", any(fl & 2 for fl in flags), "%r" % flags)

    # ---- Redis: redis-cli -> redis-server
    srv = attribution(rec, f, "redis-server", "srv", "redis")
    clis = rec.pids_of("redis-cli")
    keep_pid = f["keep"]["pid"]
    one = [p for p in clis if p != keep_pid]
    check("redis-cli (one shot) seen", one, "redis-cli pids %r, keep %r" % (clis, keep_pid))
    if srv and one:
        attribution(rec, f, "redis-cli", "cli", "client", pid=one[0])
        got = False
        for cc in rec.conns_of(one[0]):
            c_out, c1, f1 = rec.stream(cc, "egress")
            c_in, _, _ = rec.stream(cc, "ingress")
            if b"e2evalue" not in c_out:
                continue
            got = True
            port = rec.opens[cc]["local"]["port"]
            sc = find_conn(rec, srv, local_port=6379, remote_port=port)
            s_in = rec.stream(sc, "ingress")[0] if sc else b""
            s_out = rec.stream(sc, "egress")[0] if sc else b""
            check("redis request bytes equal on both ends", c_out == s_in and len(c_out) > 0,
                  "client %r, server %r (%r)" % (c_out, s_in, sc))
            check("redis reply bytes equal on both ends", c_in == s_out and b"+OK\r\n" in c_in)
            pw = f["redis_secret"].encode()
            check("redis AUTH argument redacted",
                  pw not in c_out and b"$%d\r\n%s\r\n" % (len(pw), b"*" * len(pw)) in c_out, repr(c_out))
        check("redis-cli SET captured", got)
    all_bytes = b"".join(payload(r) for r in rec.recs if r["kind"] == "DATA")
    check("no secret anywhere in the recording",
          f["redis_secret"].encode() not in all_bytes and f["http_secret"].encode() not in all_bytes)

    # ---- keep-alive connection opened before the recorder started
    kc = [k for k in rec.conns_of(keep_pid)]
    check("keep-alive connection picked up mid-stream", kc and rec.opens[kc[0]]["role"] == "unknown",
          "opens %r" % [rec.opens[k] for k in kc])
    if kc:
        k_out = rec.stream(kc[0], "egress")[0]
        k_in = rec.stream(kc[0], "ingress")[0]
        check("keep-alive request captured", b"keepkey" in k_out and b"PING" not in k_out, repr(k_out))
        check("keep-alive reply captured", b"+OK\r\n" in k_in, repr(k_in))
        o = rec.opens[kc[0]]
        check("keep-alive tuple from the socket", o["local"]["ip"] == ip_cli and o["remote"]["ip"] == ip_srv
              and o["remote"]["port"] == 6379, repr(o))

    # ---- sendfile: counted, not captured
    if nginx:
        sf = [r for r in rec.recs if r["kind"] == "DATA" and r["pid"] == nginx and r["syscall"] == "sendfile"]
        check("sendfile counted (%d bytes, no payload)" % sum(r["orig_len"] for r in sf),
              sum(r["orig_len"] for r in sf) == 50000 and all(r["cap_len"] == 0 for r in sf), repr(sf[:2]))
        seen = sorted(set(r["syscall"] for r in rec.recs if r["kind"] == "DATA"))
        print("  syscalls seen: %s" % " ".join(seen))

    # ---- IPv6 and v4-mapped addresses
    if nginx:
        o6 = [o for o in rec.opens.values() if o["pid"] == nginx and o["local"]["port"] == 8080
              and o["remote"]["ip"] == "::1"]
        check("IPv6 connection tuple ([::1]:8080)", o6 and o6[0]["local"]["ip"] == "::1", repr(o6))
        o4 = [o for o in rec.opens.values() if o["pid"] == nginx and o["local"]["port"] == 8080
              and o["remote"]["ip"] == ip_cli]
        check("v4-mapped IPv6 normalised to IPv4", o4 and o4[0]["local"]["ip"] == ip_srv, repr(o4))
        d6 = [r for r in rec.recs if r["kind"] == "DATA" and r["pid"] == nginx and b"over-ipv6" in payload(r)]
        check("IPv6 request captured", d6)

    # ---- exec: the same pid announced again with its new program
    comms = defaultdict(list)
    for r in rec.recs:
        if r["kind"] == "PROCESS":
            comms[r["pid"]].append(r["comm"])
    ex = [p for p, cs in comms.items() if "bash" in cs and "curl" in cs[cs.index("bash"):]]
    check("exec: one pid announced as bash, then as curl", ex, repr(dict(comms)))
    if ex:
        out = {d: b"".join(payload(r) for r in rec.recs if r["kind"] == "DATA" and r["pid"] == ex[0]
                           and r["dir"] == "egress" and d in payload(r)) for d in (b"before-exec", b"after-exec")}
        check("exec: data before and after exec captured", all(out.values()), repr(out))

    # ---- DNS over UDP: dig -> dnsmasq
    dig = attribution(rec, f, "dig", "cli", "client")
    dnsm = attribution(rec, f, "dnsmasq", "srv", "dns")
    if dig and dnsm:
        q = [r for r in rec.recs if r["kind"] == "DATA" and r["pid"] == dig and r["dir"] == "egress"
             and r["peer"] and r["peer"]["port"] == 53]
        a = [r for r in rec.recs if r["kind"] == "DATA" and r["pid"] == dig and r["dir"] == "ingress"
             and r["peer"] and r["peer"]["port"] == 53]
        check("dig query with its peer", q and q[0]["peer"]["ip"] == ip_srv and q[0]["peer"]["proto"] == 17,
              repr(q[:1]))
        check("dig answer with its peer", a and a[0]["peer"]["ip"] == ip_srv, repr(a[:1]))
        sq = [r for r in rec.recs if r["kind"] == "DATA" and r["pid"] == dnsm and r["dir"] == "ingress"
              and r["peer"] and r["peer"]["ip"] == ip_cli]
        sa = [r for r in rec.recs if r["kind"] == "DATA" and r["pid"] == dnsm and r["dir"] == "egress"
              and r["peer"] and r["peer"]["ip"] == ip_cli]
        check("dnsmasq query and answer with the client as peer", sq and sa)
        answer_ip = bytes(int(x) for x in f["dns_answer"].split("."))
        if q and a and sq and sa:
            check("DNS query bytes equal on both ends", payload(q[0]) == payload(sq[0]))
            check("DNS answer bytes equal on both ends, holding the address",
                  payload(a[0]) == payload(sa[0]) and answer_ip in payload(a[0]))
            check("DNS question name in the query", b"\x03svc\x03e2e\x04test\x00" in payload(q[0]))


def loss(rec, f):
    gen = f["generated"]
    pid = f["pid"]
    mine = [r for r in rec.recs if r.get("pid") == pid and r["kind"] in ("DATA", "CONN_OPEN", "CONN_CLOSE")]
    data = [r for r in mine if r["kind"] == "DATA"]
    lost = sum(r["count"] for r in rec.loss)
    check("LOSS records under a flood with a tiny ring buffer", rec.loss and lost > 0, "lost %d" % lost)
    check("LOSS records carry time ranges",
          all(0 < r["first_ns"] <= r["last_ns"] for r in rec.loss), repr(rec.loss[:3]))
    # the flood client makes exactly `gen` sends, one socket: one OPEN, one CLOSE
    check("captured + lost == generated (%d + %d == %d + 2)" % (len(mine), lost, gen),
          len(mine) + lost == gen + 2, "data %d, open/close %d" % (len(data), len(mine) - len(data)))


def main():
    fn = globals()[sys.argv[1]]
    rec = Rec(load(sys.argv[2]))
    facts = json.load(open(sys.argv[3]))
    fn(rec, facts)
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
