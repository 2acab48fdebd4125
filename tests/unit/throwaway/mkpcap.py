#!/usr/bin/env python3
"""mkpcap.py OUT - writes echo-lines/echo.pcap, the capture of the throwaway
echo protocol's corpus case: one TCP connection 10.0.0.1:40000 -> 10.0.0.2:7
with a handshake; a line and its echo; a line split over two segments; two
lines in one segment, the second echoed wrong; a line never echoed; FINs."""
import struct
import sys

C, S = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
CP, SP = 40000, 7


def frame(src, dst, sport, dport, seq, ack, flags, payload=b''):
    ip = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack('>HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    return b'\x02' * 6 + b'\x04' * 6 + b'\x08\x00' + ip + tcp + payload


def main():
    recs = [struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
    t = 1700000000 * 1000000
    seq = {0: 1000, 1: 5000}

    def pkt(client, flags, data=b''):
        nonlocal t
        t += 250
        a, b = (0, 1) if client else (1, 0)
        f = frame(C if client else S, S if client else C, CP if client else SP, SP if client else CP,
                  seq[a], seq[b], flags, data)
        seq[a] += len(data) + (1 if flags & 0x03 else 0)
        recs.append(struct.pack('<IIII', t // 1000000, t % 1000000, len(f), len(f)) + f)

    pkt(True, 0x02)
    pkt(False, 0x12)
    pkt(True, 0x10)
    pkt(True, 0x18, b'echo: hello\n')
    pkt(False, 0x18, b'echo: hello\n')
    pkt(True, 0x18, b'echo: spl')
    pkt(True, 0x18, b'it across\n')
    pkt(False, 0x18, b'echo: split across\n')
    pkt(True, 0x18, b'echo: one\necho: two\n')
    pkt(False, 0x18, b'echo: one\necho: TWO\n')
    pkt(True, 0x18, b'echo: anyone there?\n')
    pkt(True, 0x11)
    pkt(False, 0x11)
    pkt(True, 0x10)
    open(sys.argv[1], 'wb').write(b''.join(recs))


if __name__ == '__main__':
    main()
