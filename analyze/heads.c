/* heads.c - the kept connection heads of a recording (heads.h): a hash
 * table on (node, pid, fd, gen) of copies of CONN_HEAD records, the longest
 * one of each connection. */
#define _GNU_SOURCE
#include "heads.h"

#include "../formats/bytes.h"

#include <stdlib.h>
#include <string.h>

struct hent {
	struct hent *next;
	char *node;
	struct fr_conn_head hd; /* chunks point at bytes */
	uint8_t *bytes;
};

struct heads {
	struct hent **tab;
	size_t nb, n;
};

struct heads *heads_new(void)
{
	struct heads *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->nb = 256;
	h->tab = calloc(h->nb, sizeof(*h->tab));
	if (!h->tab) {
		free(h);
		return NULL;
	}
	return h;
}

void heads_free(struct heads *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nb; i++)
		for (struct hent *e = h->tab[i], *n; e; e = n) {
			n = e->next;
			free(e->node);
			free(e->bytes);
			free(e);
		}
	free(h->tab);
	free(h);
}

static size_t bucket(const struct heads *h, const char *node, const struct fr_connkey *k)
{
	uint32_t x = fr_hash(node, strlen(node), FR_HASH_INIT);
	x = fr_hash(&k->pid, 4, x);
	x = fr_hash(&k->fd, 4, x);
	x = fr_hash(&k->gen, 4, x);
	return x & (h->nb - 1);
}

static struct hent *find(const struct heads *h, const char *node, const struct fr_connkey *k)
{
	for (struct hent *e = h->tab[bucket(h, node, k)]; e; e = e->next)
		if (e->hd.conn.pid == k->pid && e->hd.conn.fd == k->fd && e->hd.conn.gen == k->gen &&
		    !strcmp(e->node, node))
			return e;
	return NULL;
}

const struct fr_conn_head *heads_find(const struct heads *h, const char *node,
				      const struct fr_connkey *k)
{
	struct hent *e = h ? find(h, node, k) : NULL;
	return e ? &e->hd : NULL;
}

static void grow(struct heads *h)
{
	size_t nb = h->nb * 2;
	struct hent **t = calloc(nb, sizeof(*t));
	if (!t)
		return;
	struct hent **old = h->tab;
	size_t onb = h->nb;
	h->tab = t;
	h->nb = nb;
	for (size_t i = 0; i < onb; i++)
		for (struct hent *e = old[i], *n; e; e = n) {
			n = e->next;
			size_t b = bucket(h, e->node, &e->hd.conn);
			e->next = t[b];
			t[b] = e;
		}
	free(old);
}

void heads_put(struct heads *h, const char *node, const struct fr_conn_head *hd)
{
	struct hent *e = find(h, node, &hd->conn);
	if (e && (uint64_t)e->hd.len[0] + e->hd.len[1] >= (uint64_t)hd->len[0] + hd->len[1])
		return;
	uint8_t *b = malloc(hd->chunks.len ? hd->chunks.len : 1);
	if (!b)
		return;
	memcpy(b, hd->chunks.p, hd->chunks.len);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->node = strdup(node))) {
			free(e);
			free(b);
			return;
		}
		size_t k = bucket(h, node, &hd->conn);
		e->next = h->tab[k];
		h->tab[k] = e;
		if (++h->n > h->nb)
			grow(h);
	}
	free(e->bytes);
	e->bytes = b;
	e->hd = *hd;
	e->hd.chunks.p = b;
}

/* The CONN_HEAD records of one segment's start. */
static void collect_one(struct heads *h, const char *file)
{
	char err[256];
	struct fr_reader *r = fr_reader_open(file, err, sizeof(err));
	if (!r)
		return;
	const struct fr_header *hdr = fr_reader_header(r);
	if (hdr->version > 2 || (hdr->version == 2 && hdr->minor >= 1)) {
		struct fr_record rec;
		while (fr_reader_next(r, &rec) > 0) {
			if (rec.kind == FR_DATA || rec.kind == FR_CONN_OPEN || rec.kind == FR_CONN_CLOSE)
				break;
			if (rec.kind == FR_CONN_HEAD)
				heads_put(h, hdr->node, &rec.u.head);
		}
	}
	fr_reader_free(r);
}

void heads_collect(struct heads *h, char *const *files, int n)
{
	for (int i = 0; i < n; i++)
		collect_one(h, files[i]);
}
