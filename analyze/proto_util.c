/* proto_util.c - small helpers shared by the protocol parsers. */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

const struct fr_proto *fr_proto_find(const char *name)
{
	for (int i = 0; fr_protocols[i]; i++)
		if (!strcmp(fr_protocols[i]->name, name))
			return fr_protocols[i];
	return NULL;
}

int fr_lc_eq(const uint8_t *p, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	if (n != k)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + 32);
		if (c != (uint8_t)lit[i])
			return 0;
	}
	return 1;
}

static struct fr_field *add(struct fr_req *r, const char *name, int type)
{
	if (r->n_fields >= FR_MAX_FIELDS)
		return NULL;
	struct fr_field *f = &r->f[r->n_fields++];
	memset(f, 0, sizeof(*f));
	f->name = name;
	f->type = type;
	return f;
}

void fr_field_int(struct fr_req *r, const char *name, int64_t v)
{
	struct fr_field *f = add(r, name, FR_F_INT);
	if (f)
		f->i = v;
}

void fr_field_text(struct fr_req *r, const char *name, const void *s, size_t len)
{
	struct fr_field *f = add(r, name, s ? FR_F_TEXT : FR_F_NULL);
	if (f && s) {
		f->s = s;
		f->len = len > 4096 ? 4096 : len;
	}
}

void fr_field_str(struct fr_req *r, const char *name, const char *s)
{
	fr_field_text(r, name, s, s ? strlen(s) : 0);
}

size_t fr_cat(char *buf, size_t cap, size_t o, const char *s, size_t n)
{
	if (!cap || o >= cap)
		return o;
	const char *e = memchr(s, 0, n);
	if (e)
		n = (size_t)(e - s);
	if (n > cap - 1 - o)
		n = cap - 1 - o;
	memcpy(buf + o, s, n);
	o += n;
	buf[o] = 0;
	return o;
}

size_t fr_cat_int(char *buf, size_t cap, size_t o, long long v)
{
	char d[24];
	size_t k = sizeof(d);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do {
		d[--k] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		d[--k] = '-';
	return fr_cat(buf, cap, o, d + k, sizeof(d) - k);
}

void *fr_fifo_push(struct fr_fifo *q, size_t esz)
{
	if (q->len == q->cap) {
		uint32_t nc = q->cap ? q->cap * 2 : 4;
		uint8_t *nv = malloc((size_t)nc * esz);
		if (!nv)
			return NULL;
		for (uint32_t i = 0; i < q->len; i++)
			memcpy(nv + (size_t)i * esz, fr_fifo_at(q, esz, i), esz);
		free(q->v);
		q->v = nv;
		q->cap = nc;
		q->head = 0;
	}
	uint8_t *e = q->v + (size_t)((q->head + q->len) % q->cap) * esz;
	q->len++;
	memset(e, 0, esz);
	return e;
}

void *fr_fifo_at(const struct fr_fifo *q, size_t esz, uint32_t i)
{
	return i < q->len ? q->v + (size_t)((q->head + i) % q->cap) * esz : NULL;
}

void fr_fifo_pop(struct fr_fifo *q)
{
	if (q->len) {
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
}

void fr_fifo_free(struct fr_fifo *q)
{
	free(q->v);
	memset(q, 0, sizeof(*q));
}

const char *fr_end_reason(int why)
{
	return why == FR_END_CLOSE ? "connection closed" :
	       why == FR_END_EVICTED ? "connection evicted" :
	       why == FR_END_HANDOVER ? "protocol switched" : "end of recording";
}

/* a path segment that is an id: all digits, a UUID, or long hex with a digit */
static int seg_is_id(const char *s, size_t n)
{
	if (!n)
		return 0;
	size_t digits = 0, hex = 0, dash = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9')
			digits++, hex++;
		else if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
			hex++;
		else if (c == '-')
			dash++;
	}
	if (digits == n)
		return 1;
	if (n == 36 && dash == 4 && hex == 32)
		return 1;
	if (dash == 0 && hex == n && n >= 8 && digits > 0)
		return 1;
	return 0;
}

void fr_path_endpoint(const char *path, char *out, size_t cap)
{
	size_t o = 0, i = 0, n = strcspn(path, "?#");
	while (i < n && o + 1 < cap) {
		if (path[i] == '/') {
			out[o++] = '/';
			i++;
			continue;
		}
		size_t j = i;
		while (j < n && path[j] != '/')
			j++;
		if (seg_is_id(path + i, j - i)) {
			const char *id = "{id}";
			for (size_t k = 0; id[k] && o + 1 < cap; k++)
				out[o++] = id[k];
		} else {
			for (size_t k = i; k < j && o + 1 < cap; k++)
				out[o++] = path[k];
		}
		i = j;
	}
	out[o] = 0;
}
