/* tls_static_client.c - an HTTPS client linked statically against Debian's
 * libssl.a/libcrypto.a, for tests/e2e/test_tls_e2e.sh (issue 17: OpenSSL
 * inside the executable, found by its symbols).  It waits until the file
 * GO exists (so that it is running, its executable mapped, when the
 * recorder starts), then makes one HTTP/1.1 request per PATH, each on a
 * new TLS connection, and prints each response's status line.
 *
 * usage: tls_static_client IP PORT GO PATH... */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int get(SSL_CTX *ctx, const char *ip, int port, const char *path)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		return -1;
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, ip);
	if (SSL_write(ssl, req, n) != n)
		return -1;
	char resp[65536];
	size_t got = 0;
	int r;
	while (got < sizeof(resp) - 1 && (r = SSL_read(ssl, resp + got, (int)(sizeof(resp) - 1 - got))) > 0)
		got += (size_t)r;
	resp[got] = 0;
	resp[strcspn(resp, "\r\n")] = 0;
	printf("%s\n", resp);
	fflush(stdout);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s IP PORT GO PATH...\n", argv[0]);
		return 2;
	}
	printf("waiting\n");
	fflush(stdout);
	while (access(argv[3], F_OK) != 0)
		usleep(50000);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	for (int i = 4; i < argc; i++)
		if (get(ctx, argv[1], atoi(argv[2]), argv[i]) < 0) {
			fprintf(stderr, "%s: request %s failed\n", argv[0], argv[i]);
			return 1;
		}
	return 0;
}
