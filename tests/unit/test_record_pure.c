/* test_record_pure.c - the recorder's pure functions: container id and pod
 * UID from cgroup paths, redaction (split at every byte), kube JSON. */
#define _GNU_SOURCE
#include "harness.h"
#include "../../capture/cgroup.h"
#include "../../capture/redact.h"
#include "../../formats/kube.h"

#include <stdlib.h>
#include <string.h>

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

TEST(cgroup_container_id_forms)
{
	char id[80];
	CHECK_EQ(fr_cgroup_container_id("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
				        "1b2c3d4e_0000_1111_2222_333344445555.slice/cri-containerd-" ID64
				        ".scope", id, sizeof(id)), 64);
	CHECK_STREQ(id, ID64);
	CHECK_EQ(fr_cgroup_container_id("/kubepods.slice/kubepods-pod1.slice/crio-" ID64 ".scope", id,
				        sizeof(id)), 64);
	CHECK_EQ(fr_cgroup_container_id("/system.slice/docker-" ID64 ".scope", id, sizeof(id)), 64);
	CHECK_EQ(fr_cgroup_container_id("/kubepods/burstable/pod1b2c3d4e-0000-1111-2222-333344445555/" ID64,
				        id, sizeof(id)), 64);
	CHECK_STREQ(id, ID64);
	CHECK_EQ(fr_cgroup_container_id("/docker/" ID64, id, sizeof(id)), 64);
	/* not containers */
	CHECK_EQ(fr_cgroup_container_id("/kubepods.slice/crio-conmon-" ID64 ".scope", id, sizeof(id)), 0);
	CHECK_EQ(fr_cgroup_container_id("/user.slice/user-0.slice/session-1.scope", id, sizeof(id)), 0);
	CHECK_EQ(id[0], 0);
	CHECK_EQ(fr_cgroup_container_id("/x/cri-containerd-0123.scope", id, sizeof(id)), 0);
	CHECK_EQ(fr_cgroup_container_id("/", id, sizeof(id)), 0);
	CHECK_EQ(fr_cgroup_container_id("/docker/" ID64 "0", id, sizeof(id)), 0); /* 65 hex */
}

TEST(cgroup_pod_uid_forms)
{
	char uid[64];
	CHECK_EQ(fr_cgroup_pod_uid("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
				   "1b2c3d4e_0000_1111_2222_333344445555.slice/cri-containerd-" ID64 ".scope",
				   uid, sizeof(uid)), 36);
	CHECK_STREQ(uid, "1b2c3d4e-0000-1111-2222-333344445555");
	CHECK_EQ(fr_cgroup_pod_uid("/kubepods/besteffort/pod1b2c3d4e-0000-1111-2222-333344445555/" ID64,
				   uid, sizeof(uid)), 36);
	CHECK_STREQ(uid, "1b2c3d4e-0000-1111-2222-333344445555");
	CHECK_EQ(fr_cgroup_pod_uid("/kubepods.slice/kubepods-besteffort.slice", uid, sizeof(uid)), 0);
	CHECK_EQ(fr_cgroup_pod_uid("/system.slice/podman.service", uid, sizeof(uid)), 0);
}

/* start: the stream is seen from its byte 0 (fr_redact_stream_start on
 * the whole input, as on a first call that holds it all). */
static void redact_all(const char *in, char *out, size_t split, int start)
{
	struct fr_redact r;
	struct fr_redact_state st;
	fr_redact_init(&r);
	memset(&st, 0, sizeof(st));
	size_t n = strlen(in);
	if (start)
		fr_redact_stream_start(&st, (const uint8_t *)in, n);
	memcpy(out, in, n + 1);
	for (size_t off = 0; off < n; off += split)
		fr_redact(&r, &st, (uint8_t *)out + off, n - off < split ? n - off : split);
}

/* Every split size gives the same result as the whole buffer. */
static int check_split_from(const char *in, const char *want, int start)
{
	size_t n = strlen(in);
	char *out = malloc(n + 1);
	int ok = 1;
	for (size_t s = 1; s <= n && ok; s++) {
		redact_all(in, out, s, start);
		if (strcmp(out, want)) {
			fprintf(stderr, "split %zu: got [%s]\n", s, out);
			ok = 0;
		}
	}
	free(out);
	return ok;
}

static int check_split(const char *in, const char *want)
{
	return check_split_from(in, want, 0);
}

TEST(redact_http_headers_any_split)
{
	CHECK(check_split("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic dXNlcjpwdw==\r\n"
			  "cookie:  s=1; t=2\r\nX-Auth: keep\r\n\r\nbody",
			  "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: ******************\r\n"
			  "cookie:  ********\r\nX-Auth: keep\r\n\r\nbody"));
	CHECK(check_split("HTTP/1.1 200 OK\r\nSet-Cookie: id=42; HttpOnly\r\nProxy-Authorization: x\r\n\r\n",
			  "HTTP/1.1 200 OK\r\nSet-Cookie: ***************\r\nProxy-Authorization: *\r\n\r\n"));
}

/* Lines whose first byte starts no secret header are skipped whole (a
 * body's, mostly): the lines after them still are header lines, whatever
 * byte they start with, an empty line or a fold included. */
TEST(redact_skips_lines_by_first_byte)
{
	CHECK(check_split("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nzzzz+/==\n"
			  "\nAuthorization: a1\r\n+x\nCookie: c2\r\n \tfold\r\n=q\nset-cookie:s3\n"
			  "xAuthorization: no\r\n9cookie: no\n",
			  "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nzzzz+/==\n"
			  "\nAuthorization: **\r\n+x\nCookie: **\r\n \t****\r\n=q\nset-cookie:**\n"
			  "xAuthorization: no\r\n9cookie: no\n"));
}

/* A stream seen from its start is followed message by message: a body
 * framed by Content-Length is not scanned for header lines (a "Cookie:"
 * line in it is kept), the heads after it are; anything else about the
 * framing (Transfer-Encoding, two lengths, "Content-Length :", a response
 * with no length, a "body" that is the next message) turns that off,
 * and the rest is scanned line by line as a stream seen mid-way is. */
TEST(redact_http_skips_bodies_by_length_any_split)
{
	/* responses: the body (16 bytes) kept, the next head redacted */
	CHECK(check_split_from("HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\nxx\r\nCookie: no\r\n"
			       "HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\ncontent-length:0\r\n\r\n"
			       "HTTP/1.1 200 OK\r\nSet-Cookie: t=2\r\n",
			       "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\nxx\r\nCookie: no\r\n"
			       "HTTP/1.1 200 OK\r\nSet-Cookie: ***\r\ncontent-length:0\r\n\r\n"
			       "HTTP/1.1 200 OK\r\nSet-Cookie: ***\r\n", 1));
	/* requests: empty lines before one, a GET has no body */
	CHECK(check_split_from("POST /a HTTP/1.1\r\nContent-Length:  17 \r\n\r\nx=1\nCookie: keep\n"
			       "\r\nGET /b HTTP/1.1\r\nAuthorization: Basic zz\r\n\r\n"
			       "GET /c HTTP/1.1\r\nCookie: c=3\r\n\r\n",
			       "POST /a HTTP/1.1\r\nContent-Length:  17 \r\n\r\nx=1\nCookie: keep\n"
			       "\r\nGET /b HTTP/1.1\r\nAuthorization: ********\r\n\r\n"
			       "GET /c HTTP/1.1\r\nCookie: ***\r\n\r\n", 1));
	/* a response to HEAD (a length, no body): the next message */
	CHECK(check_split_from("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"
			       "HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\n\r\nab\nCookie: c\n",
			       "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"
			       "HTTP/1.1 200 OK\r\nSet-Cookie: ***\r\n\r\nab\nCookie: *\n", 1));
	/* framing this scanner does not follow: every line scanned */
	static const char *const off[] = {
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 4\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length : 3\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3x\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3 4\r\n\r\n",
		"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		char in[256], want[256];
		snprintf(in, sizeof(in), "%sab\nCookie: c\nGET / HTTP/1.1\r\nCookie: d\r\n", off[i]);
		snprintf(want, sizeof(want), "%sab\nCookie: *\nGET / HTTP/1.1\r\nCookie: *\r\n", off[i]);
		CHECK(check_split_from(in, want, 1));
	}
}

/* Bytes the recorder did not capture (past the snap length, lost
 * events): inside a body they are skipped with it; a gap that may hide
 * where the body ends loses the framing, and the lines after it are
 * scanned again. */
static size_t redact_str(struct fr_redact *r, struct fr_redact_state *st, char *s)
{
	return fr_redact(r, st, (uint8_t *)s, strlen(s));
}

TEST(redact_http_gap_in_a_body)
{
	struct fr_redact r;
	struct fr_redact_state st;
	fr_redact_init(&r);
	char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab";
	memset(&st, 0, sizeof(st));
	fr_redact_stream_start(&st, (const uint8_t *)head, strlen(head));
	CHECK_EQ(redact_str(&r, &st, head), 0);
	fr_redact_gap(&st, 6); /* ab + 6 + cd: the body */
	char t1[] = "cdHTTP/1.1 200 OK\r\nSet-Cookie: s\r\nContent-Length: 11\r\n\r\nx\nCookie: n\n";
	CHECK_EQ(redact_str(&r, &st, t1), 1);
	CHECK_STREQ(t1, "cdHTTP/1.1 200 OK\r\nSet-Cookie: *\r\nContent-Length: 11\r\n\r\nx\nCookie: n\n");

	/* a gap longer than the body left: the framing is lost */
	memset(&st, 0, sizeof(st));
	fr_redact_stream_start(&st, (const uint8_t *)head, strlen(head));
	CHECK_EQ(redact_str(&r, &st, head), 0);
	fr_redact_gap(&st, 20);
	char t2[] = "x: y\r\nCookie: c\r\n\r\nzz\nCookie: d\n";
	CHECK_EQ(redact_str(&r, &st, t2), 2);
	CHECK_STREQ(t2, "x: y\r\nCookie: *\r\n\r\nzz\nCookie: *\n");
}

TEST(redact_extra_header_and_off)
{
	struct fr_redact r;
	struct fr_redact_state st;
	fr_redact_init(&r);
	CHECK_EQ(fr_redact_add_header(&r, "X-Api-Key"), 0);
	char buf[] = "x-api-key: secret\r\nX-Other: v\r\n";
	memset(&st, 0, sizeof(st));
	CHECK_EQ(fr_redact(&r, &st, (uint8_t *)buf, strlen(buf)), 6);
	CHECK_STREQ(buf, "x-api-key: ******\r\nX-Other: v\r\n");
	char desc[512];
	fr_redact_describe(&r, desc, sizeof(desc));
	CHECK(strstr(desc, "http-header:x-api-key"));
	CHECK(strstr(desc, "redis:auth"));
	r.enabled = 0;
	char b2[] = "Authorization: x\r\n";
	memset(&st, 0, sizeof(st));
	CHECK_EQ(fr_redact(&r, &st, (uint8_t *)b2, strlen(b2)), 0);
	fr_redact_describe(&r, desc, sizeof(desc));
	CHECK_EQ(desc[0], 0);
}

TEST(redact_redis_auth_any_split)
{
	CHECK(check_split("*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nval\r\n",
			  "*2\r\n$4\r\nAUTH\r\n$6\r\n******\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nval\r\n"));
	CHECK(check_split("*3\r\n$4\r\nauth\r\n$4\r\nuser\r\n$2\r\npw\r\nPING\r\n",
			  "*3\r\n$4\r\nauth\r\n$4\r\n****\r\n$2\r\n**\r\nPING\r\n"));
	CHECK(check_split("AUTH hunter2\r\nGET k\r\n", "AUTH *******\r\nGET k\r\n"));
	/* a bulk value that contains "AUTH" is not a command */
	CHECK(check_split("*3\r\n$3\r\nSET\r\n$4\r\nAUTH\r\n$2\r\nxy\r\n",
			  "*3\r\n$3\r\nSET\r\n$4\r\nAUTH\r\n$2\r\nxy\r\n"));
}

/* Issue 11, defect 5: the Redis credentials beyond AUTH. */
TEST(redact_redis_hello_auth)
{
	CHECK(check_split("*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$6\r\nsecret\r\n"
			  "*2\r\n$3\r\nGET\r\n$4\r\nAUTH\r\n",
			  "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$5\r\n*****\r\n$6\r\n******\r\n"
			  "*2\r\n$3\r\nGET\r\n$4\r\nAUTH\r\n"));
	CHECK(check_split("hello 3 auth alice secret\r\nGET auth\r\n",
			  "hello 3 auth ***** ******\r\nGET auth\r\n"));
}

TEST(redact_redis_config_requirepass_reply)
{
	/* CONFIG GET's reply, RESP2 array and RESP3 map, among other pairs */
	CHECK(check_split("*4\r\n$4\r\nport\r\n$4\r\n6379\r\n$11\r\nrequirepass\r\n$8\r\nhunter22\r\n",
			  "*4\r\n$4\r\nport\r\n$4\r\n6379\r\n$11\r\nrequirepass\r\n$8\r\n********\r\n"));
	CHECK(check_split("%2\r\n$10\r\nmasterauth\r\n$3\r\npw1\r\n$4\r\nport\r\n$4\r\n6379\r\n",
			  "%2\r\n$10\r\nmasterauth\r\n$3\r\n***\r\n$4\r\nport\r\n$4\r\n6379\r\n"));
	/* a nested reply and a null before the pair do not lose the count */
	CHECK(check_split("*3\r\n*2\r\n:1\r\n$-1\r\n$11\r\nREQUIREPASS\r\n$2\r\npw\r\n+OK\r\n",
			  "*3\r\n*2\r\n:1\r\n$-1\r\n$11\r\nREQUIREPASS\r\n$2\r\n**\r\n+OK\r\n"));
}

TEST(redact_redis_config_set_masterauth)
{
	CHECK(check_split("*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$10\r\nmasterauth\r\n$5\r\nabcde\r\n"
			  "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
			  "*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$10\r\nmasterauth\r\n$5\r\n*****\r\n"
			  "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"));
	CHECK(check_split("CONFIG SET requirepass s3cr3t\r\nPING\r\n",
			  "CONFIG SET requirepass ******\r\nPING\r\n"));
	CHECK(check_split("*5\r\n$8\r\nSENTINEL\r\n$3\r\nSET\r\n$2\r\nm1\r\n$9\r\nauth-pass\r\n$2\r\nxy\r\n",
			  "*5\r\n$8\r\nSENTINEL\r\n$3\r\nSET\r\n$2\r\nm1\r\n$9\r\nauth-pass\r\n$2\r\n**\r\n"));
}

TEST(redact_redis_migrate_auth)
{
	CHECK(check_split("*8\r\n$7\r\nMIGRATE\r\n$4\r\nhost\r\n$4\r\n6379\r\n$1\r\nk\r\n$1\r\n0\r\n"
			  "$4\r\n5000\r\n$4\r\nAUTH\r\n$3\r\npw9\r\n",
			  "*8\r\n$7\r\nMIGRATE\r\n$4\r\nhost\r\n$4\r\n6379\r\n$1\r\nk\r\n$1\r\n0\r\n"
			  "$4\r\n5000\r\n$4\r\nAUTH\r\n$3\r\n***\r\n"));
	CHECK(check_split("*9\r\n$7\r\nmigrate\r\n$1\r\nh\r\n$1\r\n1\r\n$0\r\n\r\n$1\r\n0\r\n$1\r\n9\r\n"
			  "$5\r\nAUTH2\r\n$3\r\nbob\r\n$3\r\npw2\r\n",
			  "*9\r\n$7\r\nmigrate\r\n$1\r\nh\r\n$1\r\n1\r\n$0\r\n\r\n$1\r\n0\r\n$1\r\n9\r\n"
			  "$5\r\nAUTH2\r\n$3\r\n***\r\n$3\r\n***\r\n"));
}

TEST(redact_redis_acl_setuser_password)
{
	CHECK(check_split("*6\r\n$3\r\nACL\r\n$7\r\nSETUSER\r\n$5\r\nalice\r\n$2\r\non\r\n$7\r\n>passwd\r\n"
			  "$3\r\n#ab\r\n",
			  "*6\r\n$3\r\nACL\r\n$7\r\nSETUSER\r\n$5\r\nalice\r\n$2\r\non\r\n$7\r\n>******\r\n"
			  "$3\r\n#**\r\n"));
	CHECK(check_split("ACL SETUSER bob on >pw1 <pw2 ~* +@all\r\n",
			  "ACL SETUSER bob on >*** <*** ~* +@all\r\n"));
}

/* Issue 11, defect 5: HTTP header variants. */
TEST(redact_http_obs_fold)
{
	CHECK(check_split("GET / HTTP/1.1\r\nAuthorization: Basic\r\n dXNlcjpwdw==\r\n\tmore\r\n"
			  "Host: a\r\n\r\n",
			  "GET / HTTP/1.1\r\nAuthorization: *****\r\n ************\r\n\t****\r\n"
			  "Host: a\r\n\r\n"));
}

TEST(redact_http_space_before_colon)
{
	CHECK(check_split("GET / HTTP/1.1\r\nAuthorization : Bearer tok\r\nCookie\t: a=b\r\n"
			  "Host : h\r\n\r\n",
			  "GET / HTTP/1.1\r\nAuthorization : **********\r\nCookie\t: ***\r\n"
			  "Host : h\r\n\r\n"));
	CHECK(check_split("GET / HTTP/1.1\r\nX-Api-Key: k1\r\nx-auth-token: t2\r\n\r\n",
			  "GET / HTTP/1.1\r\nX-Api-Key: **\r\nx-auth-token: **\r\n\r\n"));
}

/* Issue 11, defect 5: command lines keep argv[0] and option names. */
static int cmdline_is(int mode, const char *in, size_t n, const char *want, size_t wn)
{
	struct fr_redact r;
	fr_redact_init(&r);
	r.cmdline = mode;
	uint8_t out[256];
	size_t k = fr_redact_cmdline(&r, (const uint8_t *)in, n, out, sizeof(out));
	if (k != wn || memcmp(out, want, k)) {
		fprintf(stderr, "got %zu bytes: ", k);
		for (size_t i = 0; i < k; i++)
			fputc(out[i] ? out[i] : '|', stderr);
		fputc('\n', stderr);
		return 0;
	}
	return 1;
}
#define CMD(s) s, sizeof(s) - 1

TEST(redact_cmdline_secrets)
{
	CHECK(cmdline_is(FR_CMDLINE_NAMES, CMD("redis-cli\0-a\0hunter2\0-p\0006379\0SET\0k\0v"),
			 CMD("redis-cli\0-a\0?\0-p\0?\0?\0?\0?")));
	CHECK(cmdline_is(FR_CMDLINE_NAMES, CMD("curl\0-H\0Authorization: Bearer tok\0http://u:p@h/"),
			 CMD("curl\0-H\0?\0?")));
	CHECK(cmdline_is(FR_CMDLINE_NAMES, CMD("mysql\0-pS3CRET\0--password=x\0--verbose\0-\0--"),
			 CMD("mysql\0-p?\0--password=?\0--verbose\0-\0--")));
	CHECK(cmdline_is(FR_CMDLINE_ARGV0, CMD("nginx\0-g\0daemon off;"), CMD("nginx")));
	CHECK(cmdline_is(FR_CMDLINE_FULL, CMD("nginx\0-g\0daemon off;"), CMD("nginx\0-g\0daemon off;")));
	struct fr_redact r;
	fr_redact_init(&r);
	char desc[512];
	fr_redact_describe(&r, desc, sizeof(desc));
	CHECK(strstr(desc, "cmdline:names") != NULL);
}

/* fr_redact_copy gives fr_redact's bytes and state, and copies only
 * chunks that hold a secret. */
TEST(redact_copy_same_as_in_place)
{
	struct fr_redact r;
	struct fr_redact_state a, b;
	fr_redact_init(&r);
	const char *in = "GET / HTTP/1.1\r\nHost: x\r\nCookie: s=1\r\n\r\n*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\nbody\n";
	size_t n = strlen(in);
	for (size_t split = 1; split <= n; split++) {
		char inplace[128], buf[128];
		memcpy(inplace, in, n);
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		for (size_t off = 0; off < n; off += split) {
			size_t k = n - off < split ? n - off : split;
			size_t ra = fr_redact(&r, &a, (uint8_t *)inplace + off, k);
			const uint8_t *out;
			memset(buf, 0, sizeof(buf));
			size_t rb = fr_redact_copy(&r, &b, (const uint8_t *)in + off, k, (uint8_t *)buf, &out);
			CHECK_EQ(ra, rb);
			CHECK(out == (rb ? (const uint8_t *)buf : (const uint8_t *)in + off));
			CHECK_MEMEQ(out, inplace + off, k);
			CHECK_MEMEQ(&a, &b, sizeof(a));
		}
	}
}

/* A stream that starts as HTTP/1 is scanned for headers only, one that
 * starts as RESP for AUTH only; anything else by both. */
TEST(redact_stream_start_picks_the_scanner)
{
	struct fr_redact r;
	struct fr_redact_state st;
	fr_redact_init(&r);
	const char *http[] = {"GET /index.html HTTP/1.1\r\nHost: a\r\n", "HTTP/1.1 200 OK\r\n",
			      "POST /x HTTP/1.0\n"};
	for (size_t i = 0; i < 3; i++) {
		memset(&st, 0, sizeof(st));
		fr_redact_stream_start(&st, (const uint8_t *)http[i], strlen(http[i]));
		CHECK_EQ(st.only, FR_REDACT_ONLY_HTTP);
	}
	const char *resp[] = {"*2\r\n$4\r\nAUTH\r\n", "$6\r\nsecret\r\n"};
	for (size_t i = 0; i < 2; i++) {
		memset(&st, 0, sizeof(st));
		fr_redact_stream_start(&st, (const uint8_t *)resp[i], strlen(resp[i]));
		CHECK_EQ(st.only, FR_REDACT_ONLY_RESP);
	}
	const char *neither[] = {"AUTH hunter2\r\n", "GET k\r\n", "GET /x HTTP/1.1", "*", "get / HTTP/1.1\r\n",
				 "GET /x HTTP/2.0\r\n"};
	for (size_t i = 0; i < 6; i++) {
		memset(&st, 0, sizeof(st));
		fr_redact_stream_start(&st, (const uint8_t *)neither[i], strlen(neither[i]));
		CHECK_EQ(st.only, 0);
	}
	/* pinned to HTTP: headers still redacted, an inline AUTH line not */
	char b[] = "GET / HTTP/1.1\r\nCookie: s=1\r\nAUTH pw\r\n\r\n";
	memset(&st, 0, sizeof(st));
	fr_redact_stream_start(&st, (const uint8_t *)b, strlen(b));
	CHECK_EQ(fr_redact(&r, &st, (uint8_t *)b, strlen(b)), 3);
	CHECK_STREQ(b, "GET / HTTP/1.1\r\nCookie: ***\r\nAUTH pw\r\n\r\n");
	/* pinned to RESP: AUTH redacted, a header-like value not */
	char c[] = "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*2\r\n$3\r\nGET\r\n$9\r\nCookie: x\r\n";
	memset(&st, 0, sizeof(st));
	fr_redact_stream_start(&st, (const uint8_t *)c, strlen(c));
	CHECK_EQ(fr_redact(&r, &st, (uint8_t *)c, strlen(c)), 2);
	CHECK(strstr(c, "$2\r\n**\r\n"));
	CHECK(strstr(c, "Cookie: x"));
}

static const char *podlist =
	"{\"apiVersion\":\"v1\",\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"web-7d4b9c-x2x\","
	"\"namespace\":\"shop\",\"uid\":\"1b2c3d4e-0000-1111-2222-333344445555\",\"labels\":{\"app\":\"web\","
	"\"pod-template-hash\":\"7d4b9c\"},\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web-7d4b9c\","
	"\"controller\":true}]},\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1\"}]},"
	"\"status\":{\"podIP\":\"10.0.0.5\",\"podIPs\":[{\"ip\":\"10.0.0.5\"},{\"ip\":\"fd00::5\"}],"
	"\"containerStatuses\":[{\"name\":\"nginx\",\"image\":\"nginx:1\",\"containerID\":\"containerd://" ID64 "\"}]}},"
	"{\"metadata\":{\"name\":\"db-0\",\"namespace\":\"shop\",\"uid\":\"u2\",\"ownerReferences\":[{\"kind\":"
	"\"StatefulSet\",\"name\":\"db\"}]},\"spec\":{\"containers\":[{\"name\":\"redis\",\"image\":\"redis\"}]},\"status\":{}}]}";

TEST(kube_podlist)
{
	struct fr_kube *k = fr_kube_new();
	char err[256];
	CHECK_EQ(fr_kube_add_json(k, podlist, strlen(podlist), err, sizeof(err)), 2);
	CHECK_EQ(fr_kube_n_pods(k), 2);
	const struct fr_pod *p = fr_kube_find_uid(k, "1b2c3d4e-0000-1111-2222-333344445555");
	CHECK(p);
	CHECK_EQ(p->name.len, 14);
	CHECK_MEMEQ(p->name.p, "web-7d4b9c-x2x", 14);
	CHECK_EQ(p->owner_kind.len, 10);
	CHECK_MEMEQ(p->owner_kind.p, "Deployment", 10);
	CHECK_EQ(p->owner_name.len, 3);
	CHECK_MEMEQ(p->owner_name.p, "web", 3);
	CHECK_EQ(p->n_ips, 2);
	CHECK_EQ(p->n_labels, 2);
	CHECK_EQ(p->n_containers, 1);
	CHECK_EQ(p->containers[0].id.len, 64);
	CHECK_MEMEQ(p->containers[0].id.p, ID64, 64);
	CHECK_EQ(p->node.len, 2);
	const struct fr_pod *q = fr_kube_find_uid(k, "u2");
	CHECK(q);
	CHECK_EQ(q->owner_kind.len, 11);
	CHECK_EQ(q->n_containers, 1);
	CHECK_EQ(q->containers[0].id.len, 0);
	CHECK_EQ(fr_kube_add_json(k, "{", 1, err, sizeof(err)), -1);
	CHECK_EQ(fr_kube_add_json(k, "{\"kind\":\"Node\"}", 15, err, sizeof(err)), -1);
	CHECK_EQ(fr_kube_n_pods(k), 2);
	fr_kube_free(k);
}

TEST(kube_services_and_owner_names)
{
	const char *svc = "{\"kind\":\"ServiceList\",\"items\":[{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"
			  "\"spec\":{\"clusterIP\":\"10.96.0.10\",\"clusterIPs\":[\"10.96.0.10\"],\"selector\":{\"app\":\"web\"},"
			  "\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080,\"protocol\":\"TCP\"},"
			  "{\"port\":53,\"targetPort\":\"dns\",\"protocol\":\"UDP\"}]}},"
			  "{\"metadata\":{\"name\":\"hl\",\"namespace\":\"shop\"},\"spec\":{\"clusterIP\":\"None\"}}]}";
	struct fr_kube *k = fr_kube_new();
	char err[256];
	CHECK_EQ(fr_kube_add_json(k, svc, strlen(svc), err, sizeof(err)), 2);
	CHECK_EQ(fr_kube_n_services(k), 2);
	const struct fr_service *s = fr_kube_service(k, 0);
	CHECK_EQ(s->n_ips, 1);
	CHECK_EQ(s->n_ports, 2);
	CHECK_EQ(s->n_selector, 1);
	CHECK_EQ(s->ports[0].port, 80);
	CHECK_EQ(s->ports[0].target_port, 8080);
	CHECK_EQ(s->ports[0].proto, 6);
	CHECK_EQ(s->ports[1].proto, 17);
	CHECK_EQ(s->ports[1].target_port, 0);
	CHECK_EQ(fr_kube_service(k, 1)->n_ips, 0);
	fr_kube_free(k);
	char out[128];
	CHECK_STREQ(fr_kube_deployment_of("api-5f8d9c7b6", NULL, out, sizeof(out)), "api");
	CHECK_STREQ(fr_kube_deployment_of("api-v2-5f8d9c7b6", "5f8d9c7b6", out, sizeof(out)), "api-v2");
	CHECK_STREQ(fr_kube_deployment_of("api-v2", "5f8d9c7b6", out, sizeof(out)), "api-v2");
}

/* Items of a generic List that do not say their kind are told apart by
 * their shape (the analyzer and the importer get such files by hand). */
TEST(kube_list_items_without_kind)
{
	static const char list[] =
		"{\"kind\":\"List\",\"items\":["
		"{\"metadata\":{\"name\":\"a-1\",\"namespace\":\"n\",\"uid\":\"ua\"},"
		" \"status\":{\"podIP\":\"10.0.0.7\"}},"
		"{\"metadata\":{\"name\":\"svc\",\"namespace\":\"n\"},"
		" \"spec\":{\"clusterIP\":\"10.96.0.9\",\"ports\":[{\"port\":80}]}},"
		"{\"metadata\":{\"name\":\"what\",\"namespace\":\"n\"}}]}";
	struct fr_kube *k = fr_kube_new();
	char err[256];
	CHECK_EQ(fr_kube_add_json(k, list, strlen(list), err, sizeof(err)), 2);
	CHECK_EQ(fr_kube_n_pods(k), 1);
	CHECK_EQ(fr_kube_n_services(k), 1);
	CHECK_EQ(fr_kube_pod(k, 0)->n_ips, 1);
	CHECK_EQ(fr_kube_service(k, 0)->n_ips, 1);
	fr_kube_free(k);
}

/* ---- MySQL and PostgreSQL authentication data (issue 14) ---------------- */

/* The stream in[0..n) redacted from byte 0 in pieces of every size (also
 * through fr_redact_copy) must equal want[0..n). */
static int check_split_bin(const uint8_t *in, const uint8_t *want, size_t n)
{
	struct fr_redact r;
	fr_redact_init(&r);
	uint8_t *out = malloc(n), *buf = malloc(n);
	int ok = 1;
	for (size_t s = 1; s <= n && ok; s++) {
		for (int copy = 0; copy < 2 && ok; copy++) {
			struct fr_redact_state st;
			memset(&st, 0, sizeof(st));
			memcpy(out, in, n);
			fr_redact_stream_start(&st, in, s < n ? s : n);
			for (size_t off = 0; off < n; off += s) {
				size_t k = n - off < s ? n - off : s;
				if (copy) {
					const uint8_t *o;
					fr_redact_copy(&r, &st, in + off, k, buf, &o);
					memcpy(out + off, o, k);
				} else {
					fr_redact(&r, &st, out + off, k);
				}
			}
			if (memcmp(out, want, n)) {
				for (size_t i = 0; i < n; i++)
					if (out[i] != want[i]) {
						fprintf(stderr, "    split %zu copy %d: byte %zu is 0x%02x, want 0x%02x\n", s,
							copy, i, out[i], want[i]);
						break;
					}
				ok = 0;
			}
		}
	}
	free(out);
	free(buf);
	return ok;
}

static size_t put(uint8_t *p, size_t o, const void *s, size_t n)
{
	memcpy(p + o, s, n);
	return o + n;
}

TEST(redact_pgsql_password_messages_any_split)
{
	uint8_t in[256], want[256];
	size_t o = 0;
	/* startup: user e2e, database app */
	static const uint8_t su[] = "\0\0\0\x1f\0\x03\0\0user\0e2e\0database\0app\0"; /* + its NUL */
	o = put(in, o, su, sizeof(su));
	size_t p1 = o;
	o = put(in, o, "p\0\0\0\x0bsecret\0", 12); /* cleartext password */
	size_t p2 = o;
	o = put(in, o, "p\0\0\0\x0dSCRAM-xyz\0", 14); /* SASL data */
	size_t q = o;
	o = put(in, o, "Q\0\0\0\x0dSELECT 1\0", 14);
	memcpy(want, in, o);
	memset(want + p1 + 5, '*', 7);
	memset(want + p2 + 5, '*', 9);
	CHECK(check_split_bin(in, want, o));
	CHECK(!memcmp(want + q, "Q\0\0\0\x0dSELECT 1", 13)); /* the query is kept */
	/* an SSLRequest answered 'N', then the startup and a password */
	uint8_t in2[256], want2[256];
	size_t o2 = put(in2, 0, "\0\0\0\x08\x04\xd2\x16\x2f", 8);
	o2 = put(in2, o2, su, sizeof(su));
	size_t p3 = o2;
	o2 = put(in2, o2, "p\0\0\0\x0bsecret\0", 12);
	memcpy(want2, in2, o2);
	memset(want2 + p3 + 5, '*', 7);
	CHECK(check_split_bin(in2, want2, o2));
}

/* ---- URL userinfo and Kafka SASL (issue 11) ------------------------------ */

TEST(redact_url_userinfo_any_split)
{
	CHECK(check_split("GET http://bob:hunter2@proxy.example/x HTTP/1.1\r\nHost: a\r\n"
			  "Referer: https://u:p@ref.example:8443/page?q=1\r\n\r\n",
			  "GET http://***********@proxy.example/x HTTP/1.1\r\nHost: a\r\n"
			  "Referer: https://***@ref.example:8443/page?q=1\r\n\r\n"));
	CHECK(check_split("HTTP/1.1 302 Found\r\nLocation: http://admin:s3cr3t@10.0.0.1/login\r\n\r\n",
			  "HTTP/1.1 302 Found\r\nLocation: http://************@10.0.0.1/login\r\n\r\n"));
	/* no userinfo: kept (in one piece; a host cut by the end of a write
	 * is overwritten, as its '@' could follow) */
	char out[128];
	redact_all("X: mailto:a@b, ftp://host/@x, http://h:80/\r\n", out, 128, 0);
	CHECK_STREQ(out, "X: mailto:a@b, ftp://host/@x, http://h:80/\r\n");
}

/* A Kafka request: size, api key, version, correlation id 7, client id
 * "cli", then body (for SaslAuthenticate v2, a tag byte first). */
static size_t kafka_req(uint8_t *p, size_t o, unsigned api, unsigned ver, const void *body, size_t n)
{
	uint32_t size = (uint32_t)(2 + 2 + 4 + 2 + 3 + n);
	uint8_t h[15] = {(uint8_t)(size >> 24), (uint8_t)(size >> 16), (uint8_t)(size >> 8), (uint8_t)size,
			 0, (uint8_t)api, 0, (uint8_t)ver, 0, 0, 0, 7, 0, 3, 'c'};
	o = put(p, o, h, sizeof(h));
	o = put(p, o, "li", 2);
	return put(p, o, body, n);
}

TEST(redact_kafka_sasl_any_split)
{
	uint8_t in[512], want[512];
	size_t o = kafka_req(in, 0, 18, 3, "\0", 1); /* ApiVersions */
	o = kafka_req(in, o, 17, 1, "\0\x05PLAIN", 7); /* SaslHandshake v1 */
	size_t a1 = o;
	o = kafka_req(in, o, 36, 0, "\0\0\0\x0e\0alice\0wonder1", 18); /* SaslAuthenticate v0 */
	size_t a2 = o;
	o = kafka_req(in, o, 36, 2, "\0\x10\0bob\0builder12", 17); /* v2: tag byte, compact bytes */
	size_t m = o;
	o = kafka_req(in, o, 3, 1, "\0\0\0\0", 4); /* Metadata */
	memcpy(want, in, o);
	memset(want + a1 + 17, '*', 18);
	memset(want + a2 + 18, '*', 16);
	CHECK(check_split_bin(in, want, o));
	CHECK(!memcmp(want + m, in + m, o - m)); /* framing kept: the next request untouched */
	/* SaslHandshake v0, then a raw token (size, "\0user\0pass") */
	uint8_t in2[128], want2[128];
	size_t o2 = kafka_req(in2, 0, 17, 0, "\0\x05PLAIN", 7);
	size_t t = o2;
	o2 = put(in2, o2, "\0\0\0\x0a\0user\0pass", 14);
	o2 = kafka_req(in2, o2, 3, 1, "\0\0\0\0", 4);
	memcpy(want2, in2, o2);
	memset(want2 + t + 4, '*', 10);
	CHECK(check_split_bin(in2, want2, o2));
}

/* A MySQL login request's payload: PROTOCOL_41 | CONNECT_WITH_DB |
 * SECURE_CONNECTION | PLUGIN_AUTH; user app, a 20-byte auth response (at
 * *auth), db e2e, plugin.  Returns its length. */
static size_t my_login(uint8_t *pay, size_t *auth)
{
	size_t n = 0;
	uint32_t caps = 0x00000200u | 0x00000008u | 0x00008000u | 0x00080000u;
	for (int i = 0; i < 4; i++)
		pay[n++] = (uint8_t)(caps >> (8 * i));
	memset(pay + n, 0, 28);
	pay[n + 4] = 33;
	n += 28;
	n = put(pay, n, "app", 4);
	pay[n++] = 20;
	*auth = n;
	for (int i = 0; i < 20; i++)
		pay[n++] = (uint8_t)(0xa0 + i);
	n = put(pay, n, "e2e", 4);
	return put(pay, n, "mysql_native_password", 22);
}

TEST(redact_mysql_auth_response_any_split)
{
	uint8_t in[512], want[512];
	uint8_t pay[256];
	size_t auth, n = my_login(pay, &auth);
	size_t o = 0;
	uint8_t hdr[4] = {(uint8_t)n, 0, 0, 1};
	o = put(in, o, hdr, 4);
	o = put(in, o, pay, n);
	size_t sw = o; /* an auth switch response (seq 3): secret */
	o = put(in, o, "\x08\0\0\x03", 4);
	o = put(in, o, "12345678", 8);
	size_t q = o; /* a command: kept */
	o = put(in, o, "\x09\0\0\0\x03SELECT 1", 13);
	memcpy(want, in, o);
	memset(want + 4 + auth, '*', 20);
	memset(want + sw + 4, '*', 8);
	CHECK(check_split_bin(in, want, o));
	CHECK(!memcmp(want + 4 + 32, "app", 4) && !memcmp(want + 4 + auth + 20, "e2e", 4));
	CHECK(!memcmp(want + q + 5, "SELECT 1", 8));
	/* the server's greeting stream is left alone */
	static const uint8_t greet[] = "\x0e\0\0\0\x0a" "5.5.5-10\0\x01\0\0\0";
	CHECK(check_split_bin(greet, greet, sizeof(greet) - 1));
}

/* Redacts in[0, n) as the drain would with bytes [g0, g1) never seen (a
 * request past the snap length): the bytes seen go through fr_redact, the
 * others through fr_redact_gap.  1 when the bytes seen are want's. */
static int gap_run(const uint8_t *in, size_t n, size_t g0, size_t g1, const uint8_t *want)
{
	struct fr_redact r;
	struct fr_redact_state st;
	fr_redact_init(&r);
	memset(&st, 0, sizeof(st));
	uint8_t out[1024];
	memcpy(out, in, n);
	fr_redact_stream_start(&st, in, g0);
	fr_redact(&r, &st, out, g0);
	fr_redact_gap(&st, g1 - g0);
	fr_redact(&r, &st, out + g1, n - g1);
	return !memcmp(out, want, g0) && !memcmp(out + g1, want + g1, n - g1);
}

/* A request longer than the snap length, its tail not seen: the MySQL,
 * PostgreSQL and Kafka machines keep their framing through it, so the
 * secret after it is still found (without the gap's count they read the
 * next message as that request's tail); a gap across a message boundary
 * stops the machine, which then overwrites nothing. */
TEST(redact_sql_kafka_gap_in_a_request)
{
	uint8_t in[1024], want[1024];
	/* PostgreSQL: startup, a 100-byte query seen up to 30 of its bytes,
	 * then a password message */
	static const uint8_t su[] = "\0\0\0\x1f\0\x03\0\0user\0e2e\0database\0app\0";
	size_t o = put(in, 0, su, sizeof(su));
	size_t q = o;
	o = put(in, o, "Q\0\0\0\x68", 5);
	memset(in + o, 'x', 100);
	o += 100;
	size_t pw = o;
	o = put(in, o, "p\0\0\0\x0bsecret\0", 12);
	memcpy(want, in, o);
	memset(want + pw + 5, '*', 7);
	CHECK(gap_run(in, o, q + 30, q + 105, want));
	/* the gap runs into the password message: stopped, nothing overwritten */
	CHECK(gap_run(in, o, q + 30, pw + 2, in));

	/* MySQL: a login request (my_login), a 200-byte query seen up to 50
	 * bytes, then CHANGE_USER (user bob, 8 bytes of auth) */
	uint8_t pay[128];
	size_t auth, n = my_login(pay, &auth);
	o = put(in, 0, (uint8_t[]){(uint8_t)n, 0, 0, 1}, 4);
	o = put(in, o, pay, n);
	q = o;
	o = put(in, o, "\xc8\0\0\0\x03", 5);
	memset(in + o, 'y', 199);
	o += 199;
	size_t cu = o;
	o = put(in, o, "\x0e\0\0\0\x11" "bob\0\x08" "12345678", 18);
	memcpy(want, in, o);
	memset(want + 4 + auth, '*', 20);
	memset(want + cu + 10, '*', 8);
	CHECK(gap_run(in, o, q + 50, cu, want));
	/* a gap inside the login's user name: where the auth response starts
	 * is not known, the rest of that packet is overwritten */
	memcpy(want, in, o);
	memset(want + 4 + auth - 2, '*', n - (auth - 2));
	memset(want + cu + 10, '*', 8);
	CHECK(gap_run(in, o, 4 + auth - 4, 4 + auth - 2, want));

	/* Kafka: a 300-byte produce request seen up to 40 bytes, then
	 * SaslAuthenticate v0 */
	uint8_t body[300];
	memset(body, 'z', sizeof(body));
	o = kafka_req(in, 0, 0, 7, body, sizeof(body));
	size_t a = o;
	o = kafka_req(in, o, 36, 0, "\0\0\0\x0e\0alice\0wonder1", 18);
	memcpy(want, in, o);
	memset(want + a + 17, '*', 18);
	CHECK(gap_run(in, o, 40, a, want));
	CHECK(gap_run(in, o, 40, a + 3, in)); /* across the boundary: stopped */
}
