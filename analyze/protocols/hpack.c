/* hpack.c - HPACK, the header compression of HTTP/2: a decoder with its
 * dynamic table, for the header blocks http2.c hands it.
 *
 * Reference: RFC 7541 (HPACK), Appendix A (static table), Appendix B
 * (Huffman code).
 *
 *   field representations (first byte):
 *     1xxxxxxx  indexed field             index (7-bit prefix integer)
 *     01xxxxxx  literal, incremental indexing   name index (6) or 0 + name
 *     001xxxxx  dynamic table size update max size (5)
 *     0000xxxx  literal without indexing  name index (4) or 0 + name
 *     0001xxxx  literal never indexed     name index (4) or 0 + name
 *   string: H (1 bit: Huffman) | length (7-bit prefix integer) | bytes
 *   integer (N-bit prefix): value < 2^N - 1 in the prefix, else 2^N - 1 in
 *     the prefix and the rest in 7-bit groups, least significant first,
 *     high bit set on all but the last.
 *
 * Index 1..61: static table; 62..: dynamic table, newest first.  An entry
 * costs name + value + 32 bytes; inserting one evicts the oldest until it
 * fits; an entry larger than the table empties it.
 *
 * Entries we never saw (the connection began before the recording) are
 * not errors: see hpack.h.  Every read goes through a bounds-checked
 * cursor; nothing recurses; the table is bounded by HPACK_TABLE_MAX and the
 * scratch by the block (which the caller bounds).
 */
#include "hpack.h"
#include "../../formats/bytes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the static table (RFC 7541 Appendix A) -------------------------------- */

static const char *const static_names[HPACK_STATIC + 1] = {
	NULL, ":authority", ":method", ":method", ":path", ":path", ":scheme", ":scheme",
	":status", ":status", ":status", ":status", ":status", ":status", ":status",
	"accept-charset", "accept-encoding", "accept-language", "accept-ranges", "accept",
	"access-control-allow-origin", "age", "allow", "authorization", "cache-control",
	"content-disposition", "content-encoding", "content-language", "content-length",
	"content-location", "content-range", "content-type", "cookie", "date", "etag",
	"expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
	"if-range", "if-unmodified-since", "last-modified", "link", "location", "max-forwards",
	"proxy-authenticate", "proxy-authorization", "range", "referer", "refresh",
	"retry-after", "server", "set-cookie", "strict-transport-security",
	"transfer-encoding", "user-agent", "vary", "via", "www-authenticate",
};

static const char *const static_values[HPACK_STATIC + 1] = {
	[2] = "GET", [3] = "POST", [4] = "/", [5] = "/index.html", [6] = "http", [7] = "https",
	[8] = "200", [9] = "204", [10] = "206", [11] = "304", [12] = "400", [13] = "404",
	[14] = "500", [16] = "gzip, deflate",
};

/* ---- Huffman (RFC 7541 Appendix B) ------------------------------------------
 * The code is canonical: within one length, codes rise with the symbol.
 * So the code lengths of the 257 symbols (256 is EOS) define it, and a
 * decoder needs per length the first code, the count, and the symbols in
 * code order (built once, at first use). */

static const uint8_t huff_len[257] = {
	13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, /*   0 */
	28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, /*  16 */
	6,  10, 10, 12, 13, 6,  8,  11, 10, 10, 8,  11, 8,  6,  6,  6,  /*  32 */
	5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8,  15, 6,  12, 10, /*  48 */
	13, 6,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  /*  64 */
	7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8,  13, 19, 13, 14, 6,  /*  80 */
	15, 5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5,  /*  96 */
	6,  7,  6,  5,  5,  6,  7,  7,  7,  7,  7,  15, 11, 14, 13, 28, /* 112 */
	20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, /* 128 */
	24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, /* 144 */
	22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, /* 160 */
	21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, /* 176 */
	26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, /* 192 */
	19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, /* 208 */
	20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, /* 224 */
	26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, /* 240 */
	30,                                                             /* EOS */
};

#define HUFF_MAXLEN 30
#define HUFF_EOS 256

static struct {
	uint32_t first[HUFF_MAXLEN + 2]; /* first code of each length */
	uint16_t count[HUFF_MAXLEN + 2]; /* codes of each length */
	uint16_t off[HUFF_MAXLEN + 2];   /* index in sym of the first of each length */
	uint16_t sym[257];               /* symbols in code order */
} huff;
static pthread_once_t huff_once = PTHREAD_ONCE_INIT;

static void huff_build(void)
{
	uint32_t code = 0;
	uint16_t k = 0;
	for (int len = 1; len <= HUFF_MAXLEN; len++) {
		huff.first[len] = code;
		huff.off[len] = k;
		for (int s = 0; s < 257; s++)
			if (huff_len[s] == len)
				huff.sym[k++] = (uint16_t)s;
		huff.count[len] = (uint16_t)(k - huff.off[len]);
		code = (code + huff.count[len]) << 1;
	}
}

long hpack_huffman_decode(const uint8_t *p, size_t n, uint8_t *out, size_t cap)
{
	pthread_once(&huff_once, huff_build);
	size_t o = 0;
	uint32_t code = 0;
	int len = 0;
	for (size_t i = 0; i < n; i++) {
		for (int b = 7; b >= 0; b--) {
			code = code << 1 | ((p[i] >> b) & 1);
			if (++len > HUFF_MAXLEN) /* no code is this long */
				return -1;
			uint32_t d = code - huff.first[len];
			if (d >= huff.count[len])
				continue;
			uint16_t s = huff.sym[huff.off[len] + d];
			if (s == HUFF_EOS || o >= cap)
				return -1;
			out[o++] = (uint8_t)s;
			code = 0;
			len = 0;
		}
	}
	/* padding: at most 7 bits, all ones (the start of EOS) */
	if (len > 7 || code != (1u << len) - 1)
		return -1;
	return (long)o;
}

/* ---- the dynamic table ------------------------------------------------------ */

static uint32_t ent_size(const struct hpack_entry *e)
{
	/* a placeholder name's real length is unknown: counting it as 0 keeps
	 * entries longer than the encoder does, which is safe (a reference
	 * never reaches an entry the encoder evicted) */
	return (e->unknown_name ? 0 : e->nlen) + e->vlen + 32;
}

static struct hpack_entry *ent_at(const struct hpack *h, uint32_t i) /* 0: newest */
{
	return &h->e[(h->first + h->n - 1 - i) % h->cap];
}

static void evict_one(struct hpack *h)
{
	struct hpack_entry *e = &h->e[h->first];
	h->size -= ent_size(e);
	free(e->p);
	e->p = NULL;
	h->first = (h->first + 1) % h->cap;
	h->n--;
}

static void evict_to(struct hpack *h, uint32_t max)
{
	while (h->n && h->size > max)
		evict_one(h);
}

void hpack_init(struct hpack *h, int known)
{
	memset(h, 0, sizeof(*h));
	h->max_size = HPACK_DEFAULT_SIZE;
	h->unknown = !known;
}

void hpack_forget(struct hpack *h)
{
	while (h->n)
		evict_one(h);
	h->unknown = 1;
}

void hpack_fini(struct hpack *h)
{
	if (h->e)
		while (h->n)
			evict_one(h);
	free(h->e);
	free(h->sb);
	memset(h, 0, sizeof(*h));
}

/* Inserts name/value (copied), evicting as RFC 7541 4.4 says. */
static int insert(struct hpack *h, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
		  int unknown_name)
{
	struct hpack_entry ne = {NULL, (uint32_t)nlen, (uint32_t)vlen, unknown_name};
	uint32_t sz = ent_size(&ne);
	if (sz > h->max_size) { /* larger than the table: empties it */
		evict_to(h, 0);
		return 0;
	}
	ne.p = malloc(nlen + vlen + 1);
	if (!ne.p)
		return -1;
	memcpy(ne.p, name, nlen);
	memcpy(ne.p + nlen, value, vlen);
	evict_to(h, h->max_size - sz);
	if (h->n == h->cap) {
		uint32_t nc = h->cap ? h->cap * 2 : 16;
		struct hpack_entry *v = malloc(nc * sizeof(*v));
		if (!v) {
			free(ne.p);
			return -1;
		}
		for (uint32_t i = 0; i < h->n; i++)
			v[i] = h->e[(h->first + i) % h->cap];
		free(h->e);
		h->e = v;
		h->cap = nc;
		h->first = 0;
	}
	h->e[(h->first + h->n) % h->cap] = ne;
	h->n++;
	h->size += sz;
	return 0;
}

/* ---- the block decoder ------------------------------------------------------ */

/* N-bit prefix integer; -1 when truncated or beyond 2^28 */
static int get_int(struct fr_cur *c, int prefix, uint32_t *out)
{
	uint32_t mask = (1u << prefix) - 1;
	uint32_t v = cur_u8(c) & mask;
	if (c->bad)
		return -1;
	if (v < mask) {
		*out = v;
		return 0;
	}
	for (int m = 0;; m += 7) {
		uint8_t b = cur_u8(c);
		if (c->bad || m > 21)
			return -1;
		v += (uint32_t)(b & 0x7f) << m;
		if (!(b & 0x80))
			break;
	}
	*out = v;
	return 0;
}

/* A string literal, decoded into the scratch at *so (Huffman) or pointed
 * to in place.  -1 when malformed. */
static int get_str(struct hpack *h, struct fr_cur *c, size_t *so, const uint8_t **s, size_t *len,
		   const char **err)
{
	if (cur_need(c, 1)) {
		*err = "truncated string";
		return -1;
	}
	int huffman = *c->p & 0x80;
	uint32_t n;
	const uint8_t *raw;
	if (get_int(c, 7, &n) < 0 || cur_bytes(c, &raw, n) < 0) {
		*err = "string longer than the block";
		return -1;
	}
	if (!huffman) {
		*s = raw;
		*len = n;
		return 0;
	}
	size_t room = (size_t)n * 8 / 5 + 1;
	h->sb = fr_grow(h->sb, &h->sbcap, *so + room, 256);
	long k = hpack_huffman_decode(raw, n, h->sb + *so, room);
	if (k < 0) {
		*err = "bad Huffman string";
		return -1;
	}
	*s = h->sb + *so;
	*len = (size_t)k;
	*so += (size_t)k;
	return 0;
}

/* The placeholder text of index i, into buf (24 bytes). */
static size_t placeholder(char *buf, uint32_t i)
{
	return (size_t)snprintf(buf, 24, "<unknown:%u>", i);
}

/* Looks up index i (>= 1).  Returns 0 with name/value (the value may be
 * NULL: a static entry without one gives ""), 1 when it is an entry we do
 * not have (a placeholder is in ph), -1 when i is 0. */
static int lookup(const struct hpack *h, uint32_t i, const uint8_t **name, size_t *nlen,
		  const uint8_t **value, size_t *vlen, int *unknown_name, char *ph)
{
	*unknown_name = 0;
	if (i == 0)
		return -1;
	if (i <= HPACK_STATIC) {
		*name = (const uint8_t *)static_names[i];
		*nlen = strlen(static_names[i]);
		const char *v = static_values[i] ? static_values[i] : "";
		*value = (const uint8_t *)v;
		*vlen = strlen(v);
		return 0;
	}
	uint32_t d = i - HPACK_STATIC - 1;
	if (d < h->n) {
		const struct hpack_entry *e = ent_at(h, d);
		*name = e->p;
		*nlen = e->nlen;
		*value = e->p + e->nlen;
		*vlen = e->vlen;
		*unknown_name = e->unknown_name;
		return 0;
	}
	size_t k = placeholder(ph, i);
	*name = *value = (const uint8_t *)ph;
	*nlen = *vlen = k;
	return 1;
}

/* One literal field (first byte's pattern already known): name by index or
 * literal, value literal; inserted when `index` is set. */
static int literal(struct hpack *h, struct fr_cur *c, int prefix, int index, hpack_field_fn fn, void *arg,
		   const char **err, int *notes)
{
	uint32_t ni;
	if (get_int(c, prefix, &ni) < 0) {
		*err = "truncated integer";
		return -1;
	}
	struct hpack_field f = {0};
	char ph[24];
	size_t so = 0;
	int unknown_name = 0, name_in_sb = 0;
	if (ni) {
		const uint8_t *v;
		size_t vl;
		int r = lookup(h, ni, &f.name, &f.nlen, &v, &vl, &unknown_name, ph);
		if (r < 0) {
			*err = "index 0";
			return -1;
		}
		if (r == 1) {
			unknown_name = 1;
			if (!h->unknown)
				(*notes)++;
		}
		if (ni > HPACK_STATIC || r == 1) {
			/* a dynamic entry may be evicted by the insertion below, and
			 * ph dies with this call: the name goes to the scratch */
			h->sb = fr_grow(h->sb, &h->sbcap, f.nlen + 1, 256);
			memcpy(h->sb, f.name, f.nlen);
			so = f.nlen;
			name_in_sb = 1;
		}
	} else {
		if (get_str(h, c, &so, &f.name, &f.nlen, err) < 0)
			return -1;
		name_in_sb = so > 0;
	}
	size_t vo = so;
	if (get_str(h, c, &vo, &f.value, &f.vlen, err) < 0)
		return -1;
	if (name_in_sb) /* the value's decoding may have moved the scratch */
		f.name = h->sb;
	f.unknown = unknown_name;
	h->fields++;
	h->unknown_fields += (uint64_t)f.unknown;
	if (index && insert(h, f.name, f.nlen, f.value, f.vlen, unknown_name) < 0) {
		*err = "out of memory";
		return -1;
	}
	fn(arg, &f);
	return 0;
}

int hpack_decode(struct hpack *h, const uint8_t *p, size_t n, hpack_field_fn fn, void *arg,
		 const char **err, int *notes)
{
	struct fr_cur c;
	*notes = 0;
	*err = NULL;
	if (!n)
		return 0; /* (p may be NULL) */
	cur_init(&c, p, n);
	int rc = 0;
	while (rc == 0 && cur_left(&c)) {
		uint8_t b = *c.p;
		if (b & 0x80) { /* indexed */
			uint32_t i;
			struct hpack_field f = {0};
			char ph[24];
			int un;
			if (get_int(&c, 7, &i) < 0) {
				*err = "truncated integer";
				rc = -1;
				break;
			}
			int r = lookup(h, i, &f.name, &f.nlen, &f.value, &f.vlen, &un, ph);
			if (r < 0) {
				*err = "index 0";
				rc = -1;
				break;
			}
			if (r == 1 && !h->unknown)
				(*notes)++;
			f.unknown = r == 1 || un;
			h->fields++;
			h->unknown_fields += (uint64_t)f.unknown;
			fn(arg, &f);
		} else if ((b & 0xc0) == 0x40) {
			rc = literal(h, &c, 6, 1, fn, arg, err, notes);
		} else if ((b & 0xe0) == 0x20) { /* size update */
			uint32_t sz;
			if (get_int(&c, 5, &sz) < 0) {
				*err = "truncated integer";
				rc = -1;
				break;
			}
			/* RFC 7541 4.2 wants updates first in a block; one later on
			 * is taken as it comes */
			if (sz > HPACK_TABLE_MAX) {
				sz = HPACK_TABLE_MAX;
				h->clamped = 1;
			}
			h->max_size = sz;
			evict_to(h, sz);
		} else {
			rc = literal(h, &c, 4, 0, fn, arg, err, notes);
		}
	}
	if (rc < 0)
		hpack_forget(h);
	return rc;
}
