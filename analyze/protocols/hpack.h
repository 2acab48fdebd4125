/* hpack.h - the HPACK header block decoder (hpack.c) that http2.c uses;
 * internal to analyze/protocols/.
 *
 * One struct hpack per direction of a connection: the decoder's dynamic
 * table, rebuilt from the blocks it is given in stream order.  A block is
 * decoded whole (HEADERS + CONTINUATION fragments joined by the caller).
 *
 * A connection that began before the recording has entries in its table
 * that we never saw.  A reference to one gives a placeholder field
 * "<unknown:N>" (N the index on the wire) instead of an error, and the
 * decoder goes on: entries inserted from then on are known, and known
 * entries keep their right indices as new ones push old ones out.
 */
#ifndef FLIGHTREC_HPACK_H
#define FLIGHTREC_HPACK_H

#include <stddef.h>
#include <stdint.h>

#define HPACK_STATIC 61          /* entries of the static table */
#define HPACK_DEFAULT_SIZE 4096  /* SETTINGS_HEADER_TABLE_SIZE's default */
#define HPACK_TABLE_MAX 65536    /* bound on one dynamic table (bytes as RFC 7541 4.1 counts them) */

struct hpack_entry {
	uint8_t *p;       /* name then value, one allocation */
	uint32_t nlen, vlen;
	int unknown_name; /* the name is a placeholder (it referenced an unknown entry) */
};

struct hpack {
	struct hpack_entry *e; /* ring: the newest at (first + n - 1) % cap */
	uint32_t first, n, cap;
	uint32_t size;     /* bytes of the entries, as RFC 7541 4.1 counts them */
	uint32_t max_size; /* the table's current maximum (size updates) */
	int unknown;       /* entries older than those we hold may exist */
	uint8_t *sb;       /* scratch for one field's decoded strings */
	size_t sbcap;
	uint64_t fields, unknown_fields; /* fields decoded; of them, with a placeholder */
	int clamped;       /* a size update was above HPACK_TABLE_MAX */
};

/* One decoded header field.  name/value point into the decoder's scratch
 * or its table: valid only during the callback. */
struct hpack_field {
	const uint8_t *name, *value;
	size_t nlen, vlen;
	int unknown; /* 1: name and/or value is a "<unknown:N>" placeholder */
};

typedef void (*hpack_field_fn)(void *arg, const struct hpack_field *f);

/* Sets up an empty table.  known = 1: the direction was seen from its first
 * byte, so the table really is empty; 0: entries we never saw may exist. */
void hpack_init(struct hpack *h, int known);
/* Frees the table; h may be zeroed (never initialised).  It is zeroed after. */
void hpack_fini(struct hpack *h);
/* Forgets every entry (after a gap: blocks may have been lost); from then
 * on the table is unknown and is learned again. */
void hpack_forget(struct hpack *h);

/* Decodes the complete header block p[0..n), calling fn for each field in
 * order and updating the dynamic table.  Returns 0; or -1 when the block is
 * malformed (RFC 7541 COMPRESSION_ERROR), with *err saying why (a static
 * string): the fields before the error were delivered, and the table is
 * forgotten (hpack_forget), since the encoder's and ours may differ now.
 * *notes is set to the number of references to entries that a known table
 * does not have (each also a placeholder); 0 for an unknown table. */
int hpack_decode(struct hpack *h, const uint8_t *p, size_t n, hpack_field_fn fn, void *arg,
		 const char **err, int *notes);

/* Huffman-decodes p[0..n) (RFC 7541 5.2, Appendix B) into out, which has
 * room for cap bytes (n * 8 / 5 + 1 is always enough).  Returns the decoded
 * length, or -1 when the input is not a valid encoding (EOS inside, bad
 * padding) or does not fit. */
long hpack_huffman_decode(const uint8_t *p, size_t n, uint8_t *out, size_t cap);

#endif
