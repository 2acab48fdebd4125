/* test_hpack.c - the HPACK decoder (analyze/protocols/hpack.c) on the
 * examples of RFC 7541 Appendix C (checked against libnghttp2 when they
 * were written), on placeholders for entries from before the recording,
 * and on malformed input. */
#include "harness.h"

#include "../../analyze/protocols/hpack.h"

#include <stdlib.h>
#include <string.h>

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	while (*h) {
		if (*h == ' ') {
			h++;
			continue;
		}
		unsigned v;
		if (sscanf(h, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
		h += 2;
	}
	return n;
}

struct list {
	char text[2048];
	size_t len;
	int unknown;
};

static void collect(void *arg, const struct hpack_field *f)
{
	struct list *l = arg;
	l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len, "%.*s: %.*s\n", (int)f->nlen,
				   (const char *)f->name, (int)f->vlen, (const char *)f->value);
	l->unknown += f->unknown;
}

/* Decodes the hex block into l; returns hpack_decode's answer. */
static int decode(struct hpack *h, const char *hex, struct list *l)
{
	uint8_t b[1024];
	size_t n = unhex(hex, b);
	const char *err;
	int notes;
	memset(l, 0, sizeof(*l));
	return hpack_decode(h, b, n, collect, l, &err, &notes);
}

#define EXPECT_LIST(l, want) CHECKF(!strcmp((l).text, want), "got:\n%s--- want:\n%s", (l).text, want)

static const char *const req1 = ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n";
static const char *const req2 = ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n"
				"cache-control: no-cache\n";
static const char *const req3 = ":method: GET\n:scheme: https\n:path: /index.html\n:authority: www.example.com\n"
				"custom-key: custom-value\n";

TEST(hpack_rfc7541_c3_requests)
{
	struct hpack h;
	struct list l;
	hpack_init(&h, 1);
	CHECK(decode(&h, "82 86 84 41 0f 77 77 77 2e 65 78 61 6d 70 6c 65 2e 63 6f 6d", &l) == 0);
	EXPECT_LIST(l, req1);
	CHECKF(h.size == 57 && h.n == 1, "size %u n %u", h.size, h.n);
	CHECK(decode(&h, "82 86 84 be 58 08 6e 6f 2d 63 61 63 68 65", &l) == 0);
	EXPECT_LIST(l, req2);
	CHECKF(h.size == 110 && h.n == 2, "size %u n %u", h.size, h.n);
	CHECK(decode(&h, "82 87 85 bf 40 0a 63 75 73 74 6f 6d 2d 6b 65 79 0c 63 75 73 74 6f 6d 2d 76 61 6c 75 65",
		     &l) == 0);
	EXPECT_LIST(l, req3);
	CHECKF(h.size == 164 && h.n == 3, "size %u n %u", h.size, h.n);
	hpack_fini(&h);
}

TEST(hpack_rfc7541_c4_huffman)
{
	struct hpack h;
	struct list l;
	hpack_init(&h, 1);
	CHECK(decode(&h, "82 86 84 41 8c f1 e3 c2 e5 f2 3a 6b a0 ab 90 f4 ff", &l) == 0);
	EXPECT_LIST(l, req1);
	CHECK(decode(&h, "82 86 84 be 58 86 a8 eb 10 64 9c bf", &l) == 0);
	EXPECT_LIST(l, req2);
	CHECK(decode(&h, "82 87 85 bf 40 88 25 a8 49 e9 5b a9 7d 7f 89 25 a8 49 e9 5b b8 e8 b4 bf", &l) == 0);
	EXPECT_LIST(l, req3);
	CHECKF(h.size == 164, "size %u", h.size);
	hpack_fini(&h);
}

/* C.5 with the table size (256) given by an update: eviction */
TEST(hpack_rfc7541_c5_eviction)
{
	struct hpack h;
	struct list l;
	hpack_init(&h, 1);
	CHECK(decode(&h, "3f e1 01 48 03 33 30 32 58 07 70 72 69 76 61 74 65 61 1d 4d 6f 6e 2c 20 32 31 20 4f 63 74 "
			 "20 32 30 31 33 20 32 30 3a 31 33 3a 32 31 20 47 4d 54 6e 17 68 74 74 70 73 3a 2f 2f 77 77 "
			 "77 2e 65 78 61 6d 70 6c 65 2e 63 6f 6d", &l) == 0);
	EXPECT_LIST(l, ":status: 302\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\n"
		       "location: https://www.example.com\n");
	CHECKF(h.max_size == 256 && h.size == 222 && h.n == 4, "max %u size %u n %u", h.max_size, h.size, h.n);
	CHECK(decode(&h, "48 03 33 30 37 c1 c0 bf", &l) == 0);
	EXPECT_LIST(l, ":status: 307\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\n"
		       "location: https://www.example.com\n");
	CHECKF(h.size == 222 && h.n == 4, "size %u n %u", h.size, h.n);
	CHECK(decode(&h, "88 c1 61 1d 4d 6f 6e 2c 20 32 31 20 4f 63 74 20 32 30 31 33 20 32 30 3a 31 33 3a 32 32 20 "
			 "47 4d 54 c0 5a 04 67 7a 69 70 77 38 66 6f 6f 3d 41 53 44 4a 4b 48 51 4b 42 5a 58 4f 51 57 45 "
			 "4f 50 49 55 41 58 51 57 45 4f 49 55 3b 20 6d 61 78 2d 61 67 65 3d 33 36 30 30 3b 20 76 65 72 "
			 "73 69 6f 6e 3d 31", &l) == 0);
	EXPECT_LIST(l, ":status: 200\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:22 GMT\n"
		       "location: https://www.example.com\ncontent-encoding: gzip\n"
		       "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n");
	CHECKF(h.size == 215 && h.n == 3, "size %u n %u", h.size, h.n);
	hpack_fini(&h);
}

/* A table from before the recording: references to it are placeholders,
 * entries learned afterwards are known and keep their indices. */
TEST(hpack_unknown_entries_are_placeholders)
{
	struct hpack h;
	struct list l;
	hpack_init(&h, 0);
	CHECK(decode(&h, "83 be", &l) == 0);
	EXPECT_LIST(l, ":method: POST\n<unknown:62>: <unknown:62>\n");
	CHECK(l.unknown == 1);
	/* a literal with incremental indexing, its name from unknown entry 63
	 * (0x40 | 63: the prefix is full, 0x00 adds nothing) */
	CHECK(decode(&h, "7f 00 02 68 69", &l) == 0);
	EXPECT_LIST(l, "<unknown:63>: hi\n");
	CHECK(decode(&h, "40 01 61 01 62 be bf c0", &l) == 0);
	/* 62: a: b (newest); 63: the entry with the unknown name; 64: unknown */
	EXPECT_LIST(l, "a: b\na: b\n<unknown:63>: hi\n<unknown:64>: <unknown:64>\n");
	CHECKF(h.fields == 7 && h.unknown_fields == 4, "fields %llu unknown %llu",
	       (unsigned long long)h.fields, (unsigned long long)h.unknown_fields);
	hpack_fini(&h);
}

TEST(hpack_malformed_blocks)
{
	struct hpack h;
	struct list l;
	hpack_init(&h, 1);
	CHECK(decode(&h, "80", &l) < 0);                   /* index 0 */
	CHECK(decode(&h, "ff ff ff ff ff ff", &l) < 0);    /* integer past 2^28, truncated */
	CHECK(decode(&h, "41 85 ff ff ff ff ff", &l) < 0); /* Huffman: EOS inside */
	CHECK(decode(&h, "41 05 61 62", &l) < 0);          /* string longer than the block */
	CHECK(h.unknown == 1);                              /* forgotten after an error */
	/* a size update past the bound is clamped, and said so */
	CHECK(decode(&h, "3f e1 ff 3f", &l) == 0);
	CHECKF(h.max_size == HPACK_TABLE_MAX && h.clamped, "max %u", h.max_size);
	hpack_fini(&h);
}

TEST(hpack_huffman_padding)
{
	uint8_t out[16];
	static const uint8_t ok[] = {0x1f};   /* 'a' (00011) + 111 padding */
	static const uint8_t bad0[] = {0x18}; /* 'a' + 000: padding not ones */
	static const uint8_t eight[] = {0x1f, 0xff}; /* 'a' + 11 bits of ones: padding > 7 bits */
	CHECK(hpack_huffman_decode(ok, 1, out, sizeof(out)) == 1 && out[0] == 'a');
	CHECK(hpack_huffman_decode(bad0, 1, out, sizeof(out)) < 0);
	CHECK(hpack_huffman_decode(eight, 2, out, sizeof(out)) < 0);
}
