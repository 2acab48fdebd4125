#!/usr/bin/env python3
"""pcap_gen.py OUT N - writes a capture of N TCP connections that never
finish and each leave a hole: SYN, SYN-ACK, then one 1000-byte segment
beyond a missing first segment.  Without bounds an importer would hold N
connections and N KB of out-of-order data; import-pcap must not."""
import struct
import sys


def frame(src, dst, sport, dport, seq, ack, flags, payload=b''):
    ip = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack('>HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    return b'\x02' * 6 + b'\x04' * 6 + b'\x08\x00' + ip + tcp + payload


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    recs = [struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
    body = b'x' * 1000
    t = 1700000000 * 1000000
    for i in range(n):
        c = bytes([10, 1, (i >> 8) & 255, i & 255])
        s = bytes([10, 2, 0, 1])
        sport = 1024 + i % 60000
        for f in (frame(c, s, sport, 80, 1000, 0, 0x02),
                  frame(s, c, 80, sport, 5000, 1001, 0x12),
                  frame(c, s, sport, 80, 2001, 5001, 0x18, body)):
            t += 10
            recs.append(struct.pack('<IIII', t // 1000000, t % 1000000, len(f), len(f)) + f)
    open(out, 'wb').write(b''.join(recs))


if __name__ == '__main__':
    main()
