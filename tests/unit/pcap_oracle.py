#!/usr/bin/env python3
"""pcap_oracle.py FIELDS CAT_JSON - compares the DATA bytes of an imported
recording (`flightrec cat --json`) with tshark's own decoding of the capture
(FIELDS: `tshark -T fields` output, columns as in pcap_import.sh).

Every TCP payload byte is placed at its sequence number (first copy wins),
per connection and direction; UDP datagrams are concatenated in order.
Both sides are shifted so that their first byte is at 0, so gaps (missing
sequence ranges) must be the same.  Connections sharing the same endpoints
(port reuse) are matched in order.  Prints one line per difference and
exits 1; else prints a summary and exits 0."""
import ipaddress
import json
import sys


def norm(ip):
    a = ipaddress.ip_address(ip)
    if a.version == 6 and a.ipv4_mapped:
        a = a.ipv4_mapped
    return str(a)


def theirs_from(path):
    streams = {}
    for line in open(path):
        f = line.rstrip('\n').split('\t')
        if len(f) < 14:
            continue
        tst, ust, s4, s6, d4, d6, tsp, tdp, usp, udp_, seq, syn, tpay, upay = f[:14]
        src, dst = norm(s4 or s6), norm(d4 or d6)
        if tst:
            st = streams.setdefault(('tcp', int(tst)), {'eps': frozenset([(src, int(tsp)), (dst, int(tdp))]), 'd': {}, 'base': {}})
            if syn == '1' or not tpay:
                continue
            sender = (src, int(tsp))
            base = st['base'].setdefault(sender, int(seq))
            pos = (int(seq) - base) % (1 << 32)
            if pos >= 1 << 31:
                continue  # before the first byte seen
            d = st['d'].setdefault(sender, {})
            for i, b in enumerate(bytes.fromhex(tpay)):
                d.setdefault(pos + i, b)
        elif ust:
            st = streams.setdefault(('udp', int(ust)), {'eps': frozenset([(src, int(usp)), (dst, int(udp_))]), 'd': {}})
            d = st['d'].setdefault((src, int(usp)), {})
            for b in bytes.fromhex(upay):
                d[len(d)] = b
    return [(k[0], v['eps'], v['d']) for k, v in sorted(streams.items())]


def ours_from(path):
    conns = {}
    for line in open(path):
        r = json.loads(line)
        if r['kind'] == 'CONN_OPEN':
            l, m = r['local'], r['remote']
            conns[r['fd']] = {'proto': 'tcp' if l['proto'] == 6 else 'udp',
                              'l': (norm(l['ip']), l['port']), 'r': (norm(m['ip']), m['port']), 'd': {}}
        elif r['kind'] == 'DATA':
            c = conns[r['fd']]
            sender = c['l'] if r['dir'] == 'egress' else c['r']
            d = c['d'].setdefault(sender, {})
            data = r['payload'].encode('latin-1')
            pos = r['stream_pos'] if c['proto'] == 'tcp' else len(d)
            for i, b in enumerate(data):
                d.setdefault(pos + i, b)
    return [(c['proto'], frozenset([c['l'], c['r']]), c['d']) for fd, c in sorted(conns.items())]


def shifted(d):
    if not d:
        return {}
    m = min(d)
    return {k - m: v for k, v in d.items()}


def group(items):
    g = {}
    for proto, eps, d in items:
        if proto == 'tcp' and not any(d.values()):
            continue  # no payload: nothing to compare
        g.setdefault((proto, eps), []).append(d)
    return g


def main():
    theirs, ours = group(theirs_from(sys.argv[1])), group(ours_from(sys.argv[2]))
    nerr = 0
    for key in sorted(set(theirs) | set(ours), key=str):
        a, b = theirs.get(key, []), ours.get(key, [])
        if len(a) != len(b):
            print(f"{key[0]} {sorted(key[1])}: tshark {len(a)} connections with data, flightrec {len(b)}")
            nerr += 1
            continue
        for x, y in zip(a, b):
            for e in sorted(set(x) | set(y)):
                p, q = shifted(x.get(e, {})), shifted(y.get(e, {}))
                if p != q:
                    nerr += 1
                    only_t, only_f = len(set(p) - set(q)), len(set(q) - set(p))
                    diff = sum(1 for k in set(p) & set(q) if p[k] != q[k])
                    print(f"{key[0]} {sorted(key[1])} from {e}: tshark {len(p)} bytes, flightrec {len(q)}; "
                          f"{only_t} only in tshark, {only_f} only in flightrec, {diff} differ")
    nb = sum(len(d) for l in theirs.values() for x in l for d in x.values())
    print(f"{sum(len(l) for l in theirs.values())} connections, {nb} payload bytes agree with tshark")
    return 1 if nerr else 0


if __name__ == '__main__':
    sys.exit(main())
