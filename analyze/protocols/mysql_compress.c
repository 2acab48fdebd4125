/* mysql_compress.c - the MySQL compressed protocol (CLIENT_COMPRESS, zlib):
 * one direction's compressed packets turned back into the plain packet
 * stream that mysql.c parses.  Each packet's payload is inflated as it
 * arrives, so no packet is held whole (a compressed packet may carry up to
 * 16 MiB).
 *
 * Reference: https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_compression_packet.html
 *
 *   packet = compressed length (3, LE) | sequence id (1)
 *            | uncompressed length (3, LE) | payload (compressed length)
 *   uncompressed length 0: the payload is stored as is; else it is one
 *   zlib stream (RFC 1950) inflating to that many bytes
 *   the plain packets (mysql.c) run on across compressed packets
 *
 * Compression starts after the login's OK, in both directions (mysql.c
 * switches).  Not decoded: zstd (CLIENT_ZSTD_COMPRESSION_ALGORITHM, MySQL
 * 8.0.18+; MariaDB has no zstd compression): mysql.c marks it.
 */
#include "mysql_compress.h"

#include <string.h>

#define OUT_CHUNK 16384

static int inflate_some(struct mz_dir *d, const uint8_t *p, size_t n, mz_sink out, void *arg)
{
	uint8_t buf[OUT_CHUNK];
	if (!d->zinit) {
		memset(&d->z, 0, sizeof(d->z));
		if (inflateInit(&d->z) != Z_OK)
			return -1;
		d->zinit = 1;
	}
	d->z.next_in = (Bytef *)p;
	d->z.avail_in = (uInt)n;
	do {
		d->z.next_out = buf;
		d->z.avail_out = sizeof(buf);
		int r = inflate(&d->z, Z_NO_FLUSH);
		size_t got = sizeof(buf) - d->z.avail_out;
		if (got) {
			if (d->out + got > d->ulen)
				return -1; /* more than the header said */
			out(arg, buf, got, d->out == 0);
			d->out += got;
		}
		if (r == Z_STREAM_END)
			return d->z.avail_in || d->out != d->ulen ? -1 : 0;
		if (r != Z_OK && r != Z_BUF_ERROR)
			return -1;
		if (r == Z_BUF_ERROR && !got)
			break;
	} while (d->z.avail_in || !d->z.avail_out);
	return 0;
}

static void lost(struct mz_dir *d)
{
	d->st = MZ_LOST;
	d->hlen = 0;
}

int mz_feed(struct mz_dir *d, const uint8_t *p, size_t n, mz_sink out, void *arg)
{
	while (n && d->st != MZ_LOST) {
		if (d->st == MZ_HDR) {
			d->hdr[d->hlen++] = *p++;
			n--;
			if (d->hlen < 7)
				continue;
			d->hlen = 0;
			d->rem = (uint32_t)d->hdr[0] | (uint32_t)d->hdr[1] << 8 | (uint32_t)d->hdr[2] << 16;
			d->ulen = (uint32_t)d->hdr[4] | (uint32_t)d->hdr[5] << 8 | (uint32_t)d->hdr[6] << 16;
			d->out = 0;
			if (d->ulen && d->zinit && inflateReset(&d->z) != Z_OK) {
				lost(d);
				return -1;
			}
			d->st = d->rem ? MZ_BODY : MZ_HDR;
			continue;
		}
		size_t take = n < d->rem ? n : d->rem;
		if (d->st == MZ_SKIP) {
			d->skipped += take;
		} else if (!d->ulen) {
			out(arg, p, take, d->out == 0);
			d->out += take;
		} else if (inflate_some(d, p, take, out, arg) < 0) {
			lost(d);
			return -1;
		}
		p += take;
		n -= take;
		d->rem -= (uint32_t)take;
		if (!d->rem) {
			if (d->st == MZ_BODY && d->ulen && d->out != d->ulen) {
				lost(d);
				return -1; /* the zlib stream ended short */
			}
			d->st = MZ_HDR;
		}
	}
	return 0;
}

int mz_gap(struct mz_dir *d, uint64_t len)
{
	if ((d->st == MZ_BODY || d->st == MZ_SKIP) && len < d->rem) {
		d->rem -= (uint32_t)len;
		d->skipped += len;
		if (d->st == MZ_BODY && !d->ulen) {
			d->out += len;
			return 1;
		}
		d->st = MZ_SKIP;
		return 0;
	}
	lost(d);
	return -1;
}

int mz_resync(struct mz_dir *d, const uint8_t *p, size_t n)
{
	if (n < 9)
		return 0;
	uint32_t clen = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
	uint32_t ulen = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16;
	if (clen < 4)
		return 0;
	if (ulen) {
		/* a zlib header: deflate, 32K window or less, check bits */
		if ((p[7] & 0x0f) != 8 || (p[7] >> 4) > 7 || ((unsigned)p[7] << 8 | p[8]) % 31)
			return 0;
		if (ulen < clen / 2 && clen > 64)
			return 0;
	}
	/* stored: the plain framing judges what it carries */
	d->st = MZ_HDR;
	d->hlen = 0;
	return 1;
}

void mz_fini(struct mz_dir *d)
{
	if (d->zinit)
		inflateEnd(&d->z);
	d->zinit = 0;
}
