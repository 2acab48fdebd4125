/* redactbench - the recorder's redaction (capture/redact.c) over the
 * payloads of tests/bench/record-overhead: by default its 16 KiB case,
 * HTTP/1.1 responses whose bodies are base64 lines of 76 characters,
 * redacted in 4 KiB calls as the recorder sees them (--snaplen 4096);
 * with "small", its 12-byte case, wrk's request and nginx's response on
 * one keep-alive connection (one call each).  Count its instructions,
 * which are steadier than time:
 *
 *   valgrind --tool=callgrind build/bench/redactbench 200
 *   valgrind --tool=callgrind build/bench/redactbench 5000 small
 *
 * (the setup, a few hundred thousand instructions, counts in both runs
 * compared).  Prints the bytes of one exchange and the bytes overwritten
 * (none: the payloads hold no secret). */
#include "../../capture/redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 1000;
	int small = argc > 2 && !strcmp(argv[2], "small");
	static uint8_t buf[20000], out[20000], req[256];
	size_t n, nreq = 0;
	struct fr_redact r;
	fr_redact_init(&r);
	size_t red = 0;
	if (small) {
		nreq = (size_t)snprintf((char *)req, sizeof(req),
					"GET /b12.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
		n = (size_t)snprintf((char *)buf, sizeof(buf),
				     "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
				     "Date: Mon, 07 Dec 2026 00:10:00 GMT\r\nContent-Type: text/html\r\n"
				     "Content-Length: 12\r\nLast-Modified: Mon, 07 Dec 2026 00:05:00 GMT\r\n"
				     "Connection: keep-alive\r\nETag: \"6935c1ac-c\"\r\n"
				     "Accept-Ranges: bytes\r\n\r\nq83vEjWmQ2xZ");
		struct fr_redact_state sq, sr;
		memset(&sq, 0, sizeof(sq));
		memset(&sr, 0, sizeof(sr));
		fr_redact_stream_start(&sq, req, nreq);
		fr_redact_stream_start(&sr, buf, n);
		for (int k = 0; k < iters; k++) {
			const uint8_t *o;
			red += fr_redact_copy(&r, &sq, req, nreq, out, &o);
			red += fr_redact_copy(&r, &sr, buf, n, out, &o);
		}
		printf("%zu + %zu bytes an exchange, %d exchanges, %zu bytes overwritten\n", nreq, n, iters, red);
		return 0;
	}
	n = (size_t)snprintf((char *)buf, sizeof(buf),
			     "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\n"
			     "Content-Length: 16384\r\nConnection: keep-alive\r\n\r\n");
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t x = 1;
	for (int i = 0; i < 16384; i++) {
		x = x * 1103515245u + 12345u;
		buf[n++] = i % 77 == 76 ? '\n' : (uint8_t)b64[x >> 16 & 63];
	}
	for (int k = 0; k < iters; k++) {
		struct fr_redact_state st;
		memset(&st, 0, sizeof(st));
		fr_redact_stream_start(&st, buf, n);
		for (size_t off = 0; off < n; off += 4096) {
			size_t m = n - off < 4096 ? n - off : 4096;
			const uint8_t *o;
			red += fr_redact_copy(&r, &st, buf + off, m, out, &o);
		}
	}
	printf("%zu bytes a response, %d responses, %zu bytes overwritten\n", n, iters, red);
	return 0;
}
