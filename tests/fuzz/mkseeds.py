#!/usr/bin/env python3
"""Builds seed inputs for fuzz_proto from the real traffic in the corpus:
each client connection of tests/corpus/<proto>/<case>/ becomes one seed in
tests/fuzz/corpus/fuzz_proto/<proto>/, in the format of tests/fuzz/fuzz_proto.c.
usage: mkseeds.py FLIGHTREC"""
import json, os, subprocess, sys

flightrec = sys.argv[1]
root = os.path.join(os.path.dirname(__file__), '..', 'corpus')
for proto in sorted(os.listdir(root)):
    pdir = os.path.join(root, proto)
    if not os.path.isdir(pdir):
        continue
    out = os.path.join(os.path.dirname(__file__), 'corpus', 'fuzz_proto', proto)
    os.makedirs(out, exist_ok=True)
    for case in sorted(os.listdir(pdir)):
        cdir = os.path.join(pdir, case)
        if not os.path.isdir(cdir):
            continue
        txt = subprocess.run([flightrec, 'cat', '--json', cdir], capture_output=True, text=True).stdout
        conns = {}
        udp = {}
        for line in txt.splitlines():
            r = json.loads(line)
            if r['kind'] == 'CONN_OPEN' and r['role'] == 'client':
                conns[(r['pid'], r['fd'])] = bytearray()
                udp[(r['pid'], r['fd'])] = r['remote']['proto'] == 17
            if r['kind'] == 'DATA' and (r['pid'], r['fd']) in conns:
                b = r['payload'].encode('latin-1')
                d = 0 if r['dir'] == 'egress' else 1
                conns[(r['pid'], r['fd'])] += bytes([d, len(b) >> 8, len(b) & 255]) + b
        for i, (k, body) in enumerate(sorted(conns.items())):
            if body:
                with open(os.path.join(out, f'{case}-{i}'), 'wb') as f:
                    f.write(bytes([1 if udp[k] else 0]) + body)
