/* redact.h - overwrite secrets in captured bytes before they reach disk.
 *
 * Values of chosen HTTP/1 headers (Authorization, Proxy-Authorization,
 * Cookie, Set-Cookie, X-Api-Key, X-Auth-Token by default), the userinfo
 * of URLs (http://user:pass@host/: request targets, Location, Referer, any
 * text of an HTTP stream), Kafka SASL exchanges, and Redis
 * credentials (RESP arrays and inline commands, and config replies) are
 * replaced by '*', byte for byte, so lengths and stream positions stay
 * true: a secret's length is not hidden, since the system call's byte
 * count, which the recording must keep, gives it away anyway.  The scanner is resumable: a
 * header or command split across chunks is redacted the same way (the
 * caller keeps one struct fr_redact_state per direction of a connection,
 * zeroed at the start of the stream).  Pure functions, no I/O. */
#ifndef FLIGHTREC_REDACT_H
#define FLIGHTREC_REDACT_H

#include <stddef.h>
#include <stdint.h>

#define FR_REDACT_MAX_HEADERS 30 /* secret headers; two more entries are framing's */
#define FR_REDACT_NAME 64

/* What of a process's command line reaches the disk. */
enum {
	FR_CMDLINE_NAMES = 0, /* argv[0] and option names: "redis-cli -a ? -p ?" (the default) */
	FR_CMDLINE_ARGV0,     /* argv[0] only */
	FR_CMDLINE_FULL,      /* every argument as it is */
};

struct fr_redact {
	int enabled;
	int redis;   /* Redis credentials (AUTH, HELLO AUTH, CONFIG, ACL SETUSER, MIGRATE) */
	int cmdline; /* FR_CMDLINE_* */
	int n_headers;
	int max_len; /* longest header name */
	/* lower case; the last two, content-length and transfer-encoding, are
	 * matched for message framing (fr_redact_stream_start), not redacted */
	char headers[FR_REDACT_MAX_HEADERS + 2][FR_REDACT_NAME];
	uint32_t first[256]; /* the headers whose names start with a byte (either case) */
	uint8_t name[256];   /* a byte of a header name (tchar) in lower case, else 0 */
};

struct fr_redact_state {
	/* HTTP header machine */
	uint8_t h_mode;
	uint8_t h_len;
	uint32_t h_cand; /* headers whose names still match; valid when h_len > 0 */
	/* HTTP message framing (a stream seen from byte 0): where the bodies
	 * framed by Content-Length are, which the header machine skips */
	uint8_t h_frame; /* F_*: off, before a message, in its head */
	uint8_t h_req;   /* the stream carries requests (else responses) */
	uint8_t h_cl;    /* CL_*: the head's Content-Length */
	uint8_t h_nd, h_tail; /* Content-Length value: digits seen, past them */
	uint64_t h_num;  /* the value being read */
	uint64_t h_clen; /* the head's Content-Length */
	uint64_t h_left; /* body bytes left to skip */
	/* RESP machine */
	uint8_t r_mode;
	uint8_t r_cmd;  /* C_*: what the command's first words were */
	uint8_t r_arg;  /* A_*: how much of the current argument to overwrite */
	uint8_t r_agg;  /* the type byte of the aggregate being counted */
	uint8_t r_next; /* arguments after this one to overwrite whole */
	uint8_t r_wlen; /* bytes of the current argument seen, up to 25 */
	char r_word[24]; /* its first bytes, lower case */
	int64_t r_num;  /* number being parsed; -1 for "-1" */
	int64_t r_args; /* elements in the current message, nested ones flattened */
	int64_t r_idx;  /* index of the current element */
	int64_t r_left; /* bytes left in the current bulk string */
	uint8_t only; /* FR_REDACT_ONLY_*: set by fr_redact_stream_start */
	/* MySQL / PostgreSQL client machine (issue 14): runs only on a stream
	 * seen from its byte 0 (fr_redact_stream_start) */
	uint8_t q_mode;
	uint8_t q_part;  /* what the current payload bytes are */
	uint8_t q_hlen;
	uint8_t q_auth;  /* MySQL: inside an authentication exchange */
	uint8_t q_hdr[8];
	uint32_t q_caps; /* MySQL: the client's capability flags */
	uint32_t q_left; /* bytes left in the current part */
	uint32_t q_pkt;  /* bytes left in the current packet / message */
	/* URL userinfo machine: 0-2 bytes of "://" matched, 3 in an authority
	 * whose '@' (if any) was not seen yet, 4 past its '@' */
	uint8_t u_mode;
	/* Kafka SASL machine (streams seen from byte 0) */
	uint8_t k_mode;
	uint8_t k_hlen;
	uint8_t k_raw;   /* the next message is a raw SASL token (SaslHandshake v0) */
	uint8_t k_hdr[14];
	uint32_t k_left; /* bytes left in the current request */
	uint32_t k_keep; /* of them, bytes kept before the secret part */
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
/* n bytes of the stream were not seen (past the snap length, or lost
 * events; UINT64_MAX: an unknown number).  HTTP: inside a body being
 * skipped they are skipped; anywhere else the message framing is lost, and
 * the rest of the stream is scanned line by line.  MySQL, PostgreSQL and
 * Kafka: inside a packet, message or request the framing holds; anywhere
 * else their machine stops (redact_sql.c, redact_wire.c). */
void fr_redact_gap(struct fr_redact_state *st, uint64_t n);
/* Looks at the first bytes of a stream (p[0] is its byte 0; st is
 * zeroed): a stream that starts with an HTTP/1 request line or status line
 * is scanned for HTTP headers only from then on, one that starts with a
 * RESP array or bulk string ("*<digit>", "$<digit>") for Redis AUTH only;
 * otherwise, or mid-stream, both scanners run.  Halves the scanning of the
 * common case.  An HTTP stream is also followed message by message: the
 * body of a message framed by a Content-Length is skipped by the header
 * scanner (not by the URL scanner), unless it starts as the next message
 * would ('H' in responses: a response to HEAD, or a 304, has no body; a
 * capital letter in requests); any other framing (chunked, a response
 * without a length) ends that, and the rest of the stream is scanned line
 * by line.  (Redis itself closes a connection that sends an HTTP request,
 * so an AUTH cannot follow one.)  A stream seen from byte 0 is
 * also judged on its first 8 bytes (read on, across chunks): a MySQL login
 * request or a PostgreSQL startup message makes its authentication data
 * overwritten from then on (MySQL: the login's and CHANGE_USER's auth
 * response, every client packet of an auth exchange; PostgreSQL: every
 * PasswordMessage / SASL message body).  User, database and plugin names
 * are kept.  A stream that starts as Kafka requests (size, api key,
 * version) has the SASL bytes of its SaslAuthenticate requests overwritten
 * (PLAIN user and password, SCRAM proofs: everything after the client id),
 * and the raw tokens that follow a SaslHandshake v0. */
void fr_redact_stream_start(struct fr_redact_state *st, const uint8_t *p, size_t n);
/* Copies the command line in[0..n) (arguments separated by NUL bytes)
 * into out (cap bytes) as r->cmdline says: with FR_CMDLINE_NAMES every
 * argument after argv[0] that is not an option becomes "?", an option keeps
 * its name ("--password=?", "-p?" for "-pSECRET").  Everything is kept when
 * redaction is off.  Returns the length written (at most cap). */
size_t fr_redact_cmdline(const struct fr_redact *r, const uint8_t *in, size_t n, uint8_t *out,
			 size_t cap);
/* Describes the rules for the segment header: "" when disabled, else
 * "http-header:authorization,...,redis:auth". */
void fr_redact_describe(const struct fr_redact *r, char *buf, size_t len);

#endif
