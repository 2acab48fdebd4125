/* redact_wire.c - two of the redaction machines (redact.h): the userinfo
 * of URLs in HTTP streams, and Kafka SASL exchanges.  Resumable at any
 * byte; same-length overwrite. */
#include "redact.h"
#include "redact_internal.h"

#include <string.h>

/* ---- credentials in URLs ---------------------------------------------------
 * After "://", the userinfo of the authority (the bytes before its '@') is
 * overwritten, wherever the URL is in an HTTP stream.  The '@' is looked
 * for in the same chunk; an authority cut by the end of a chunk before
 * any '@' is overwritten up to there (it may be a password whose '@' is
 * in the next write: a host name cut so is lost, which is rare). */

static int authority_end(uint8_t c)
{
	return c <= ' ' || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' ||
	       c == '<' || c == '>' || c == '\\';
}

size_t fr_redact_url_pass(struct fr_redact_state *st, const uint8_t *p, uint8_t *w, size_t n)
{
	size_t red = 0, i = 0;
	while (i < n) {
		if (st->u_mode == 0) {
			const uint8_t *c = memchr(p + i, ':', n - i);
			if (!c)
				break;
			i = (size_t)(c - p) + 1;
			if (i < n && p[i] != '/')
				continue; /* no "://" here (most colons) */
			st->u_mode = 1;
			continue;
		}
		if (st->u_mode < 3) {
			uint8_t c = p[i++];
			st->u_mode = c == '/' ? st->u_mode + 1 : c == ':' ? 1 : 0;
			continue;
		}
		size_t j = i, at = n;
		while (j < n && !authority_end(p[j])) {
			if (p[j] == '@' && st->u_mode == 3)
				at = j;
			j++;
		}
		size_t end = st->u_mode == 4 ? i : at < n ? at : j < n ? i : n;
		red += end - i;
		if (w)
			memset(w + i, '*', end - i);
		st->u_mode = j < n ? 0 : at < n ? 4 : st->u_mode;
		i = j;
	}
	return red;
}

/* ---- Kafka SASL (SaslAuthenticate, api key 36; raw tokens after a
 * SaslHandshake v0, api key 17) ----------------------------------------------
 * Request: size(4) api_key(2) api_version(2) correlation_id(4)
 * client_id(2 + n) [tagged fields, v2+] auth_bytes.  The first 14 bytes of
 * each request are collected; framing lost (an implausible header) stops
 * the machine.  Raw token: size(4) token. */

#define KAFKA_SASL_AUTHENTICATE 36
#define KAFKA_SASL_HANDSHAKE 17

static void kafka_header(struct fr_redact_state *st)
{
	const uint8_t *h = st->k_hdr;
	uint32_t size = be32_at(h);
	unsigned api = (unsigned)h[4] << 8 | h[5], ver = (unsigned)h[6] << 8 | h[7];
	int16_t clen = (int16_t)(h[12] << 8 | h[13]);
	st->k_hlen = 0;
	st->k_mode = K_BODY;
	if (size < 10 || size > (64u << 20) || api > 100 || ver > 30 || clen < -1 ||
	    (clen > 0 && (uint32_t)clen > size - 10)) {
		st->k_mode = K_DONE;
		return;
	}
	st->k_left = size - 10;
	st->k_keep = st->k_left;
	if (api == KAFKA_SASL_AUTHENTICATE)
		st->k_keep = (clen > 0 ? (uint32_t)clen : 0) + (ver >= 2 ? 1 : 0);
	if (api == KAFKA_SASL_HANDSHAKE && ver == 0)
		st->k_raw = 1;
	if (st->k_keep > st->k_left)
		st->k_keep = st->k_left;
}

/* n bytes of the client stream not seen (a produce request longer than
 * the snap length, lost events): inside a request the framing holds;
 * anywhere else it is lost and the machine stops. */
void fr_redact_kafka_gap(struct fr_redact_state *st, uint64_t n)
{
	if (st->k_mode == K_OFF || st->k_mode == K_DONE || !n)
		return;
	if (st->k_mode != K_BODY || n > st->k_left) {
		st->k_mode = K_DONE;
		return;
	}
	st->k_keep -= n < st->k_keep ? (uint32_t)n : st->k_keep;
	st->k_left -= (uint32_t)n;
	if (!st->k_left)
		st->k_mode = K_HDR;
}

size_t fr_redact_kafka_pass(struct fr_redact_state *st, const uint8_t *p, uint8_t *w, size_t n)
{
	size_t red = 0, i = 0;
	while (i < n && st->k_mode != K_DONE) {
		if (st->k_mode == K_HDR) {
			st->k_hdr[st->k_hlen++] = p[i++];
			if (st->k_raw && st->k_hlen == 4) { /* a raw token: all secret */
				uint32_t size = be32_at(st->k_hdr);
				st->k_raw = 0;
				st->k_hlen = 0;
				st->k_left = size;
				st->k_keep = 0;
				st->k_mode = size > (64u << 20) ? K_DONE : size ? K_BODY : K_HDR;
			} else if (st->k_hlen == sizeof(st->k_hdr)) {
				kafka_header(st);
			}
			continue;
		}
		size_t k = n - i < st->k_left ? n - i : st->k_left;
		size_t keep = k < st->k_keep ? k : st->k_keep;
		red += k - keep;
		if (w)
			memset(w + i + keep, '*', k - keep);
		st->k_keep -= (uint32_t)keep;
		st->k_left -= (uint32_t)k;
		i += k;
		if (!st->k_left)
			st->k_mode = K_HDR;
	}
	return red;
}
