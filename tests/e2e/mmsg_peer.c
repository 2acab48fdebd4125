/* mmsg_peer - UDP datagrams moved by sendmmsg(2) and recvmmsg(2), for
 * tests/e2e/test_record_mmsg.sh.
 *
 *   mmsg_peer server IP PORT N   receives N datagrams with recvmmsg (as
 *       many per call as are waiting, 4 at most: within what the system
 *       call hooks record of one call), answers each batch with one
 *       sendmmsg of "re:" + each datagram, to its sender; exits after N
 *   mmsg_peer client IP PORT CALLS PER   CALLS sendmmsg calls of PER
 *       datagrams each ("call-C-msg-M" and a tail of M+1 '.' so lengths
 *       differ), then receives the CALLS * PER answers with recvmmsg
 *
 * Each side prints what it sent and received, one datagram a line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXV 16
#define DLEN 128

static int udp_socket(const char *ip, int port, int bind_it, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		return -1;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s >= 0 && bind_it && bind(s, (struct sockaddr *)sa, sizeof(*sa)) < 0) {
		close(s);
		return -1;
	}
	struct timeval tv = {.tv_sec = 10};
	if (s >= 0)
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return s;
}

/* Receives up to want datagrams in one recvmmsg into buf; their lengths
 * and senders into lens and from.  Returns the count, or -1. */
static int recv_batch(int s, char buf[][DLEN], unsigned *lens, struct sockaddr_in *from, int want)
{
	struct mmsghdr v[MAXV];
	struct iovec io[MAXV];
	memset(v, 0, sizeof(v));
	for (int i = 0; i < want; i++) {
		io[i].iov_base = buf[i];
		io[i].iov_len = DLEN - 1;
		v[i].msg_hdr.msg_iov = &io[i];
		v[i].msg_hdr.msg_iovlen = 1;
		v[i].msg_hdr.msg_name = &from[i];
		v[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	int n = recvmmsg(s, v, (unsigned)want, MSG_WAITFORONE, NULL);
	for (int i = 0; i < n; i++) {
		lens[i] = v[i].msg_len;
		buf[i][lens[i]] = 0;
	}
	return n;
}

/* Sends n datagrams in one sendmmsg, each to[i] (or the connected peer
 * when to is NULL).  0 when all went. */
static int send_batch(int s, char buf[][DLEN], const unsigned *lens, struct sockaddr_in *to, int n)
{
	struct mmsghdr v[MAXV];
	struct iovec io[MAXV];
	memset(v, 0, sizeof(v));
	for (int i = 0; i < n; i++) {
		io[i].iov_base = buf[i];
		io[i].iov_len = lens[i];
		v[i].msg_hdr.msg_iov = &io[i];
		v[i].msg_hdr.msg_iovlen = 1;
		if (to) {
			v[i].msg_hdr.msg_name = &to[i];
			v[i].msg_hdr.msg_namelen = sizeof(to[i]);
		}
	}
	return sendmmsg(s, v, (unsigned)n, 0) == n ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa, from[MAXV];
	char buf[MAXV][DLEN];
	unsigned lens[MAXV];
	if (argc == 5 && !strcmp(argv[1], "server")) {
		int s = udp_socket(argv[2], atoi(argv[3]), 1, &sa), left = atoi(argv[4]);
		if (s < 0)
			return perror("mmsg_peer server"), 1;
		printf("ready\n");
		fflush(stdout);
		while (left > 0) {
			int n = recv_batch(s, buf, lens, from, left < 4 ? left : 4);
			if (n <= 0)
				return perror("mmsg_peer: recvmmsg"), 1;
			char out[MAXV][DLEN];
			unsigned olen[MAXV];
			for (int i = 0; i < n; i++) {
				printf("got %s\n", buf[i]);
				olen[i] = (unsigned)snprintf(out[i], DLEN, "re:%s", buf[i]);
			}
			if (send_batch(s, out, olen, from, n) < 0)
				return perror("mmsg_peer: sendmmsg"), 1;
			left -= n;
		}
		return 0;
	}
	if (argc == 6 && !strcmp(argv[1], "client")) {
		int calls = atoi(argv[4]), per = atoi(argv[5]);
		if (calls < 1 || per < 1 || per > MAXV)
			return 2;
		int s = udp_socket(argv[2], atoi(argv[3]), 0, &sa);
		if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return perror("mmsg_peer client"), 1;
		for (int c = 0; c < calls; c++) {
			for (int m = 0; m < per; m++) {
				lens[m] = (unsigned)snprintf(buf[m], DLEN, "call-%d-msg-%d", c, m);
				memset(buf[m] + lens[m], '.', (size_t)m + 1);
				lens[m] += (unsigned)m + 1;
				printf("sent %.*s\n", (int)lens[m], buf[m]);
			}
			if (send_batch(s, buf, lens, NULL, per) < 0)
				return perror("mmsg_peer: sendmmsg"), 1;
			usleep(100000); /* the server reads each call's batch apart */
		}
		for (int left = calls * per; left > 0;) {
			int n = recv_batch(s, buf, lens, from, left < MAXV ? left : MAXV);
			if (n <= 0)
				return perror("mmsg_peer: recvmmsg"), 1;
			for (int i = 0; i < n; i++)
				printf("got %s\n", buf[i]);
			left -= n;
		}
		return 0;
	}
	fprintf(stderr, "usage: mmsg_peer server IP PORT N | client IP PORT CALLS PER\n");
	return 2;
}
