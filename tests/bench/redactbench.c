/* redactbench - the recorder's redaction (capture/redact.c) over the
 * payloads of tests/bench/record-overhead's 16 KiB case: HTTP/1.1
 * responses whose bodies are base64 lines of 76 characters, redacted in
 * 4 KiB calls as the recorder sees them (--snaplen 4096).  Count its
 * instructions, which are steadier than time:
 *
 *   valgrind --tool=callgrind build/bench/redactbench 200
 *
 * (the setup, a few hundred thousand instructions, counts in both runs
 * compared).  Prints the bytes of one response and the bytes overwritten
 * (none: the responses hold no secret). */
#include "../../capture/redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 1000;
	static uint8_t buf[20000], out[20000];
	size_t n = (size_t)snprintf((char *)buf, sizeof(buf),
				    "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\n"
				    "Content-Length: 16384\r\nConnection: keep-alive\r\n\r\n");
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t x = 1;
	for (int i = 0; i < 16384; i++) {
		x = x * 1103515245u + 12345u;
		buf[n++] = i % 77 == 76 ? '\n' : (uint8_t)b64[x >> 16 & 63];
	}
	struct fr_redact r;
	fr_redact_init(&r);
	size_t red = 0;
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
