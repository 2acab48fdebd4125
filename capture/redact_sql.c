/* redact_sql.c - MySQL and PostgreSQL authentication data, one of the
 * redaction machines (redact.h; issue 14).  Client streams seen from
 * their first byte only: a MySQL login request ("len(3) 01 caps(4) ...")
 * or a PostgreSQL startup message ("len(4) code(4) ..."), judged on the
 * first 8 bytes.  Lengths and framing stay true: bytes become '*'.
 * Resumable at any byte. */
#include "redact.h"
#include "redact_internal.h"

#include <string.h>

enum { QP_KEEP = 0, QP_SECRET, QP_SSL, QP_CMD, QP_FIXED, QP_USER, QP_LENENC, QP_LENBYTES, QP_ALEN1,
       QP_AUTH, QP_ANUL };

#define MY_SECURE_CONN 0x00008000u
#define MY_AUTH_LENENC 0x00200000u
#define MY_SSL 0x00000800u
#define MY_COMPRESS 0x00000020u
#define MY_PROTOCOL_41 0x00000200u

static void sql_detect(struct fr_redact_state *st)
{
	const uint8_t *h = st->q_hdr;
	uint32_t l = be32_at(h), code = be32_at(h + 4);
	int pg = (code == 196608u || code == 80877102u || code == 80877103u || code == 80877104u) && l >= 8 &&
		 l <= 10000;
	uint32_t ml = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16;
	uint32_t caps = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24;
	st->q_hlen = 0;
	if (pg) {
		st->q_mode = Q_PG_BODY;
		st->q_pkt = l - 8;
		st->q_part = code == 80877103u || code == 80877104u ? QP_SSL : QP_KEEP;
	} else if (st->q_mode == Q_DETECT && h[3] == 1 && ml >= 32 && ml < 65536 && (caps & MY_PROTOCOL_41)) {
		st->q_mode = Q_MY_BODY;
		st->q_caps = caps;
		st->q_pkt = ml - 4;
		st->q_part = QP_FIXED;
		st->q_left = 28;
		st->q_auth = 1;
		if ((caps & MY_SSL) && ml == 32)
			st->q_mode = Q_DONE; /* SSL request: TLS follows */
	} else {
		st->q_mode = Q_DONE;
	}
}

/* The end of a PostgreSQL message. */
static void pg_end(struct fr_redact_state *st)
{
	st->q_hlen = 0;
	st->q_mode = st->q_part == QP_SSL ? Q_DETECT_PG : Q_PG_HDR; /* a startup again, or TLS */
}

/* Where MySQL's auth response starts, after the user name. */
static uint8_t my_auth_part(const struct fr_redact_state *st)
{
	if (st->q_caps & MY_AUTH_LENENC)
		return QP_LENENC;
	return st->q_caps & MY_SECURE_CONN ? QP_ALEN1 : QP_ANUL;
}

/* One step of MySQL payload: bytes consumed from p[0..n) (n > 0). */
static size_t my_step(struct fr_redact_state *st, const uint8_t *p, uint8_t *w, size_t n, size_t *red)
{
	size_t k = n < st->q_pkt ? n : st->q_pkt;
	const uint8_t *z;
	switch (st->q_part) {
	case QP_FIXED:
		k = k < st->q_left ? k : st->q_left;
		if (!(st->q_left -= (uint32_t)k))
			st->q_part = QP_USER;
		return k;
	case QP_USER:
		z = memchr(p, 0, k);
		if (z) {
			k = (size_t)(z - p) + 1;
			st->q_part = my_auth_part(st);
		}
		return k;
	case QP_CMD: /* a command's first byte: CHANGE_USER carries auth data */
		if (p[0] == 0x11) {
			st->q_part = QP_USER;
			st->q_auth = 1;
		} else {
			st->q_part = QP_KEEP;
			if (st->q_caps & MY_COMPRESS)
				st->q_mode = Q_DONE; /* compressed frames from here on */
		}
		return 1;
	case QP_LENENC:
		st->q_left = 0;
		st->q_hlen = p[0] == 0xfc ? 2 : p[0] == 0xfd ? 3 : 0;
		st->q_part = st->q_hlen ? QP_LENBYTES : p[0] < 0xfb ? QP_AUTH : QP_KEEP;
		if (p[0] < 0xfb)
			st->q_left = p[0];
		st->q_hdr[0] = 0;
		return 1;
	case QP_LENBYTES:
		st->q_left |= (uint32_t)p[0] << (8 * st->q_hdr[0]++);
		if (st->q_hdr[0] == st->q_hlen) {
			st->q_hlen = 0;
			st->q_part = QP_AUTH;
		}
		return 1;
	case QP_ALEN1:
		st->q_left = p[0];
		st->q_part = QP_AUTH;
		return 1;
	case QP_AUTH:
		k = k < st->q_left ? k : st->q_left;
		st->q_left -= (uint32_t)k;
		if (!st->q_left)
			st->q_part = QP_KEEP;
		break;
	case QP_ANUL:
		z = memchr(p, 0, k);
		if (z) {
			k = (size_t)(z - p);
			st->q_part = QP_KEEP;
			if (!k)
				return 0;
		}
		break;
	case QP_SECRET:
		break;
	default:
		return k;
	}
	if (w)
		memset(w, '*', k);
	*red += k;
	return k;
}

/* n bytes of the client stream not seen (a query longer than the snap
 * length, lost events).  Inside a packet or message the framing holds
 * (the rest of a MySQL packet with authentication data is then redacted
 * whole: where that data ends may have been in the gap); anywhere else it
 * is lost and the machine stops, as parsing on from a wrong place would
 * overwrite random bytes (the secrets it looks for come at a
 * connection's start, and with CHANGE_USER). */
void fr_redact_sql_gap(struct fr_redact_state *st, uint64_t n)
{
	if (st->q_mode == Q_OFF || st->q_mode == Q_DONE || !n)
		return;
	if ((st->q_mode != Q_PG_BODY && st->q_mode != Q_MY_BODY) || n > st->q_pkt) {
		st->q_mode = Q_DONE;
		return;
	}
	if (st->q_mode == Q_MY_BODY && st->q_part != QP_KEEP)
		st->q_part = QP_SECRET;
	st->q_pkt -= (uint32_t)n;
	if (!st->q_pkt && st->q_mode == Q_PG_BODY)
		pg_end(st);
	else if (!st->q_pkt)
		st->q_mode = Q_MY_HDR;
}

size_t fr_redact_sql_pass(struct fr_redact_state *st, const uint8_t *p, uint8_t *w, size_t n)
{
	size_t red = 0, i = 0;
	while (i < n && st->q_mode != Q_DONE && st->q_mode != Q_OFF) {
		size_t k;
		switch (st->q_mode) {
		case Q_DETECT:
		case Q_DETECT_PG:
			st->q_hdr[st->q_hlen++] = p[i++];
			if (st->q_hlen == 8)
				sql_detect(st);
			break;
		case Q_PG_HDR:
			st->q_hdr[st->q_hlen++] = p[i++];
			if (st->q_hlen < 5)
				break;
			if (be32_at(st->q_hdr + 1) < 4) {
				st->q_mode = Q_DONE;
				break;
			}
			st->q_pkt = be32_at(st->q_hdr + 1) - 4;
			st->q_part = st->q_hdr[0] == 'p' ? QP_SECRET : QP_KEEP;
			st->q_mode = Q_PG_BODY;
			if (!st->q_pkt)
				pg_end(st);
			break;
		case Q_PG_BODY:
			k = n - i < st->q_pkt ? n - i : st->q_pkt;
			if (st->q_part == QP_SECRET) {
				if (w)
					memset(w + i, '*', k);
				red += k;
			}
			i += k;
			if (!(st->q_pkt -= (uint32_t)k))
				pg_end(st);
			break;
		case Q_MY_HDR:
			st->q_hdr[st->q_hlen++] = p[i++];
			if (st->q_hlen < 4)
				break;
			st->q_hlen = 0;
			st->q_pkt = (uint32_t)st->q_hdr[0] | (uint32_t)st->q_hdr[1] << 8 | (uint32_t)st->q_hdr[2] << 16;
			if (st->q_hdr[3] == 0)
				st->q_auth = 0;
			st->q_part = st->q_hdr[3] == 0 ? QP_CMD : st->q_auth ? QP_SECRET : QP_KEEP;
			st->q_mode = st->q_pkt ? Q_MY_BODY : Q_MY_HDR;
			break;
		default: /* Q_MY_BODY */
			k = my_step(st, p + i, w ? w + i : NULL, n - i, &red);
			i += k;
			st->q_pkt -= (uint32_t)k;
			if (!st->q_pkt && st->q_mode == Q_MY_BODY)
				st->q_mode = Q_MY_HDR;
			break;
		}
	}
	return red;
}
