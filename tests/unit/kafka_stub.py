#!/usr/bin/env python3
"""kafka_stub.py PORTFILE PCAP [--metadata-max N] [--produce-max N]
[--stop-api K] [--seconds S] [--sasl] [--bind ADDR] [--port N]

A listening socket for tests/unit/kafka_kcat.sh: it records what a real
Kafka client (kcat / librdkafka) sends, and answers just enough for the
client to go on: ApiVersions (advertising Metadata up to --metadata-max and
Produce up to --produce-max), Metadata v4 naming itself as the leader of
every topic asked for, and Produce (non-flexible versions 3-8) with no
error; with --sasl, also SaslHandshake v0-1 (PLAIN and SCRAM-SHA-256
offered) and SaslAuthenticate v0-1, accepting any credentials.  Nothing
else is answered.  It is not a broker: the response side of
the Kafka parser is covered by real captures (tests/corpus/kafka/), not by
this.

It stops after the first request of api key --stop-api (default: none; a
Metadata request must name a topic), or
after --seconds, and writes every connection it saw as a pcap (SYN,
SYN-ACK, the bytes in order, FIN) to PCAP; it writes the port it listens on
to PORTFILE first."""
import argparse
import socket
import struct
import threading
import time

lock = threading.Lock()
convs = []  # per connection: list of (t, from_client, bytes)
stop = threading.Event()


def s16(s):
    b = s.encode()
    return struct.pack('>h', len(b)) + b


def api_versions(a, corr, ver):
    keys = [(0, 0, a.produce_max), (1, 0, 11), (3, 0, a.metadata_max), (18, 0, 3), (22, 0, 4)]
    if a.sasl:
        keys += [(17, 0, 1), (36, 0, 1)]
    flex = ver >= 3
    body = struct.pack('>h', 0)
    if flex:
        body += bytes([len(keys) + 1])
        for k, lo, hi in keys:
            body += struct.pack('>hhh', k, lo, hi) + b'\0'
        body += struct.pack('>i', 0) + b'\0'
    else:
        body += struct.pack('>i', len(keys))
        for k, lo, hi in keys:
            body += struct.pack('>hhh', k, lo, hi)
        if ver >= 1:
            body += struct.pack('>i', 0)
    return struct.pack('>i', corr) + body  # response header v0, always


def metadata_v4(host, port, corr, topics):
    body = struct.pack('>i', 0)  # throttle
    body += struct.pack('>i', 1) + struct.pack('>i', 1) + s16(host) + struct.pack('>i', port) + b'\xff\xff'
    body += s16('stub') + struct.pack('>i', 1)
    body += struct.pack('>i', len(topics))
    for t in topics:
        body += struct.pack('>h', 0) + s16(t) + b'\0' + struct.pack('>i', 1)
        body += struct.pack('>hii', 0, 0, 1) + struct.pack('>ii', 1, 1) * 2 + struct.pack('>i', 0)
    return struct.pack('>i', corr) + body


def produce_resp(corr, ver, topics):
    body = struct.pack('>i', len(topics))
    for t, parts in topics:
        body += s16(t) + struct.pack('>i', len(parts))
        for p in parts:
            body += struct.pack('>ihqq', p, 0, 0, -1)
            if ver >= 5:
                body += struct.pack('>q', 0)
            if ver >= 8:
                body += struct.pack('>i', 0) + b'\xff\xff'
    return struct.pack('>i', corr) + body + struct.pack('>i', 0)


def parse_topics(body, off, n_len):
    """Topic names (and partition ids) of a non-flexible Metadata v1-8 /
    Produce v3-8 request body from off."""
    out = []
    n, = struct.unpack_from('>i', body, off)
    off += 4
    for _ in range(max(n, 0)):
        ln, = struct.unpack_from('>h', body, off)
        name = body[off + 2:off + 2 + ln].decode()
        off += 2 + ln
        parts = []
        if n_len:
            np, = struct.unpack_from('>i', body, off)
            off += 4
            for _ in range(np):
                p, rl = struct.unpack_from('>ii', body, off)
                parts.append(p)
                off += 8 + max(rl, 0)
        out.append((name, parts))
    return out


def metadata_all(frame):
    """A Metadata request (non-flexible) that names no topic: librdkafka's
    refresh of the broker list, not yet the request for the topic."""
    cl, = struct.unpack_from('>h', frame, 8)
    n, = struct.unpack_from('>i', frame, 10 + max(cl, 0))
    return n <= 0


def sasl(key, corr, ver):
    """SaslHandshake: no error, the mechanisms offered; SaslAuthenticate:
    no error, no message, no server token (PLAIN needs none)."""
    if key == 17:
        mechs = ['PLAIN', 'SCRAM-SHA-256']
        return struct.pack('>ihi', corr, 0, len(mechs)) + b''.join(s16(m) for m in mechs)
    body = struct.pack('>ihhi', corr, 0, -1, 0)
    return body + (struct.pack('>q', 0) if ver >= 1 else b'')


def answer(a, port, frame):
    key, ver, corr = struct.unpack_from('>hhi', frame, 0)
    cl, = struct.unpack_from('>h', frame, 8)
    off = 10 + max(cl, 0)
    if key == 18:
        return api_versions(a, corr, ver)
    if a.sasl and key in (17, 36) and ver <= 1:
        return sasl(key, corr, ver)
    if key == 3 and ver == 4:
        return metadata_v4(a.bind, port, corr, [t for t, _ in parse_topics(frame, off, False)])
    if key == 0 and 3 <= ver <= 8:
        tl, = struct.unpack_from('>h', frame, off)
        off += 2 + max(tl, 0)
        acks, = struct.unpack_from('>h', frame, off)
        if acks == 0:
            return None
        return produce_resp(corr, ver, parse_topics(frame, off + 6, True))
    return None


def serve(a, port, conn, log):
    buf = b''
    conn.settimeout(0.2)
    while not stop.is_set():
        try:
            data = conn.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not data:
            break
        with lock:
            log.append((time.time(), True, data))
        buf += data
        while len(buf) >= 4:
            size, = struct.unpack_from('>i', buf, 0)
            if len(buf) < 4 + size:
                break
            frame, buf = buf[4:4 + size], buf[4 + size:]
            key = struct.unpack_from('>h', frame, 0)[0]
            resp = answer(a, port, frame)
            if resp is not None:
                out = struct.pack('>i', len(resp)) + resp
                with lock:
                    log.append((time.time(), False, out))
                conn.sendall(out)
            if key == a.stop_api and not (key == 3 and metadata_all(frame)):
                stop.set()
    conn.close()


def write_pcap(path, port):
    recs = [struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
    cli, srv = bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])

    def frame(src, dst, sport, dport, seq, ack, flags, t, payload=b''):
        ip = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
        tcp = struct.pack('>HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
        f = b'\0' * 6 + b'\0' * 6 + b'\x08\x00' + ip + tcp + payload
        us = int(t * 1e6)
        recs.append(struct.pack('<IIII', us // 1000000, us % 1000000, len(f), len(f)) + f)

    for i, log in enumerate(convs):
        if not log:
            continue
        cport = 40000 + i
        cs, ss = 1000, 5000
        t0 = log[0][0] - 0.001
        frame(cli, srv, cport, port, cs - 1, 0, 0x02, t0)
        frame(srv, cli, port, cport, ss - 1, cs, 0x12, t0)
        for t, from_client, data in log:
            for k in range(0, len(data), 16000):
                piece = data[k:k + 16000]
                if from_client:
                    frame(cli, srv, cport, port, cs, ss, 0x18, t, piece)
                    cs += len(piece)
                else:
                    frame(srv, cli, port, cport, ss, cs, 0x18, t, piece)
                    ss += len(piece)
        t = log[-1][0] + 0.001
        frame(cli, srv, cport, port, cs, ss, 0x11, t)
        frame(srv, cli, port, cport, ss, cs + 1, 0x11, t)
    open(path, 'wb').write(b''.join(recs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('portfile')
    ap.add_argument('pcap')
    ap.add_argument('--metadata-max', type=int, default=4)
    ap.add_argument('--produce-max', type=int, default=7)
    ap.add_argument('--stop-api', type=int, default=-1)
    ap.add_argument('--seconds', type=float, default=10)
    ap.add_argument('--sasl', action='store_true')
    ap.add_argument('--bind', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0)
    a = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.bind, a.port))
    ls.listen(8)
    ls.settimeout(0.2)
    port = ls.getsockname()[1]
    with open(a.portfile, 'w') as f:
        f.write(f'{port}\n')
    end = time.time() + a.seconds
    threads = []
    while not stop.is_set() and time.time() < end:
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            continue
        log = []
        convs.append(log)
        th = threading.Thread(target=serve, args=(a, port, conn, log), daemon=True)
        th.start()
        threads.append(th)
    stop.set()
    for th in threads:
        th.join(2)
    write_pcap(a.pcap, port)


if __name__ == '__main__':
    main()
