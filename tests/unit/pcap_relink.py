#!/usr/bin/env python3
"""pcap_relink.py IN OUT KIND - rewrites an Ethernet pcap into another link
type, frame by frame, for the import tests: sll, sll2, raw, null, loop, vlan
(two 802.1Q tags), or ipv4frag (IPv4 TCP/UDP packets split into 3 fragments
of which the last comes first)."""
import struct
import sys

DLT = {'sll': 113, 'sll2': 276, 'raw': 101, 'null': 0, 'loop': 108, 'vlan': 1, 'ipv4frag': 1}


def relink(frame, kind):
    eth, etype, ip = frame[:12], frame[12:14], frame[14:]
    if kind == 'sll':
        return [struct.pack('>HHH8s', 0, 1, 6, eth[6:12] + b'\0\0') + etype + ip]
    if kind == 'sll2':
        return [etype + b'\0\0' + struct.pack('>IHBB8s', 2, 1, 0, 6, eth[6:12] + b'\0\0') + ip]
    if kind == 'raw':
        return [ip]
    fam = 2 if etype == b'\x08\x00' else 10
    if kind == 'null':
        return [struct.pack('<I', fam) + ip]
    if kind == 'loop':
        return [struct.pack('>I', fam) + ip]
    if kind == 'vlan':
        return [eth + b'\x88\xa8\x00\x64\x81\x00\x00\x07' + etype + ip]
    if kind == 'ipv4frag' and etype == b'\x08\x00' and ip[9] in (6, 17):
        hl = (ip[0] & 15) * 4
        tot = struct.unpack('>H', ip[2:4])[0]
        body = ip[hl:tot]
        if len(body) < 24:
            return [frame]
        cut1, cut2 = 8, (len(body) // 16) * 8
        parts = [(0, body[:cut1], 1), (cut1, body[cut1:cut2], 1), (cut2, body[cut2:], 0)]
        out = []
        for off, data, more in parts:
            h = bytearray(ip[:hl])
            struct.pack_into('>H', h, 2, hl + len(data))
            struct.pack_into('>H', h, 6, (0x2000 if more else 0) | (off // 8))
            out.append(eth + etype + bytes(h) + data)
        return [out[2], out[0], out[1]]
    return [frame]


def main():
    src, dst, kind = sys.argv[1:4]
    b = open(src, 'rb').read()
    magic = b[:4]
    end = '<' if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
    hdr = bytearray(b[:24])
    struct.pack_into(end + 'I', hdr, 20, DLT[kind])
    out = [bytes(hdr)]
    o = 24
    while o + 16 <= len(b):
        sec, frac, cap, ln = struct.unpack(end + 'IIII', b[o:o + 16])
        frame = b[o + 16:o + 16 + cap]
        o += 16 + cap
        for f in relink(frame, kind):
            out.append(struct.pack(end + 'IIII', sec, frac, len(f), len(f) + (ln - cap)) + f)
    open(dst, 'wb').write(b''.join(out))


if __name__ == '__main__':
    main()
