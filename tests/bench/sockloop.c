/* sockloop - the smallest socket traffic, for tests/bench/event-cost: one
 * thread, one loopback TCP connection, ROUNDS round trips of write(SIZE
 * bytes) on one end and read on the other (two recorded events each).
 * Prints the mean nanoseconds per round trip of each of three passes.
 *
 * usage: sockloop [ROUNDS [SIZE]] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	int size = argc > 2 ? atoi(argv[2]) : 100;
	if (n <= 0 || size <= 0 || size > (1 << 20)) {
		fprintf(stderr, "usage: sockloop [ROUNDS [SIZE]]\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), a = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || a < 0 || bind(l, (void *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (void *)&sa, &sl) || connect(a, (void *)&sa, sizeof(sa))) {
		perror("sockloop");
		return 1;
	}
	int b = accept(l, NULL, NULL);
	if (b < 0) {
		perror("sockloop: accept");
		return 1;
	}
	setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	char *out = calloc(1, (size_t)size), *in = calloc(1, (size_t)size);
	if (!out || !in)
		return 1;
	memcpy(out, "GET / HTTP/1.1\r\n", size < 16 ? (size_t)size : 16);
	for (int pass = 0; pass < 3; pass++) {
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (write(a, out, (size_t)size) != size)
				return 1;
			for (int got = 0; got < size;) {
				ssize_t r = read(b, in + got, (size_t)(size - got));
				if (r <= 0)
					return 1;
				got += (int)r;
			}
		}
		printf("%.0f%s", (now_ns() - t0) / (double)n, pass < 2 ? " " : "\n");
		fflush(stdout);
	}
	return 0;
}
