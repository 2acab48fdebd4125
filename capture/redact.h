/* redact.h - overwrite secrets in captured bytes before they reach disk.
 *
 * Values of chosen HTTP/1 headers (Authorization, Proxy-Authorization,
 * Cookie, Set-Cookie by default) and the arguments of Redis AUTH commands
 * (RESP arrays and inline commands) are replaced by '*', byte for byte, so
 * lengths and stream positions stay true.  The scanner is resumable: a
 * header or command split across chunks is redacted the same way (the
 * caller keeps one struct fr_redact_state per direction of a connection,
 * zeroed at the start of the stream).  Pure functions, no I/O. */
#ifndef FLIGHTREC_REDACT_H
#define FLIGHTREC_REDACT_H

#include <stddef.h>
#include <stdint.h>

#define FR_REDACT_MAX_HEADERS 32
#define FR_REDACT_NAME 64

struct fr_redact {
	int enabled;
	int redis; /* Redis AUTH arguments */
	int n_headers;
	int max_len; /* longest header name */
	char headers[FR_REDACT_MAX_HEADERS][FR_REDACT_NAME]; /* lower case */
};

struct fr_redact_state {
	/* HTTP header machine */
	uint8_t h_mode;
	uint8_t h_len;
	uint32_t h_cand; /* headers whose names still match; valid when h_len > 0 */
	/* RESP machine */
	uint8_t r_mode;
	uint8_t r_auth;
	uint8_t r_wlen;
	char r_word[8];
	int64_t r_num;  /* number being parsed */
	int64_t r_args; /* arguments left in the current array */
	int64_t r_idx;  /* index of the current argument */
	int64_t r_left; /* bytes left in the current bulk string */
	uint8_t only; /* FR_REDACT_ONLY_*: set by fr_redact_stream_start */
};

enum { FR_REDACT_ONLY_HTTP = 1, FR_REDACT_ONLY_RESP = 2 };

/* The default rules (the four headers and Redis AUTH), enabled. */
void fr_redact_init(struct fr_redact *r);
/* Adds a header name (case-insensitive).  0, or -1 if the table is full or
 * the name is empty or too long. */
int fr_redact_add_header(struct fr_redact *r, const char *name);
/* Overwrites secrets in p[0..n) in place, continuing from *st.  Returns the
 * number of bytes overwritten. */
size_t fr_redact(const struct fr_redact *r, struct fr_redact_state *st, uint8_t *p, size_t n);
/* The same on bytes that cannot be written (the kernel's ring buffer):
 * when a secret is found, src[0..n) is copied into buf (n bytes) and
 * redacted there, and *out is buf; else buf is untouched and *out is src.
 * Returns the number of bytes overwritten; st advances as with fr_redact. */
size_t fr_redact_copy(const struct fr_redact *r, struct fr_redact_state *st, const uint8_t *src,
		      size_t n, uint8_t *buf, const uint8_t **out);
/* Looks at the first bytes of a stream (p[0] is its byte 0; st is
 * zeroed): a stream that starts with an HTTP/1 request line or status line
 * is scanned for HTTP headers only from then on, one that starts with a
 * RESP array or bulk string ("*<digit>", "$<digit>") for Redis AUTH only;
 * otherwise, or mid-stream, both scanners run.  Halves the scanning of the
 * common case.  (Redis itself closes a connection that sends an HTTP
 * request, so an AUTH cannot follow one.) */
void fr_redact_stream_start(struct fr_redact_state *st, const uint8_t *p, size_t n);
/* Describes the rules for the segment header: "" when disabled, else
 * "http-header:authorization,...,redis:auth". */
void fr_redact_describe(const struct fr_redact *r, char *buf, size_t len);

#endif
