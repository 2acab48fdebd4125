/* proto_util.c - small helpers shared by the protocol parsers. */
#include "proto.h"

#include <string.h>

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
