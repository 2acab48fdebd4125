/* test_harness.c - the harness's own checks: a failing CHECK_EQ,
 * CHECK_STREQ or CHECK_MEMEQ says what it saw. */
#define _GNU_SOURCE
#include "harness.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* What fn writes on stderr when run in a child process; malloc'd. */
static char *stderr_of(void (*fn)(void))
{
	int fd[2];
	if (pipe(fd) < 0)
		return NULL;
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd[1], 2);
		close(fd[0]);
		fn();
		fflush(stderr);
		_exit(0);
	}
	close(fd[1]);
	char *out = calloc(1, 4096);
	size_t n = 0;
	ssize_t k;
	while (out && n < 4095 && (k = read(fd[0], out + n, 4095 - n)) > 0)
		n += (size_t)k;
	close(fd[0]);
	waitpid(pid, NULL, 0);
	return out;
}

static void eq_size(void)
{
	size_t n = 3;
	CHECK_EQ(n, 2);
}
static void eq_big(void)
{
	uint64_t v = UINT64_MAX;
	CHECK_EQ(v, -1);
}
static void str(void) { CHECK_STREQ("GET /a\r\n", "GET /b\r\n"); }
static void str_null(void) { CHECK_STREQ(NULL, "x"); }
static void mem(void) { CHECK_MEMEQ("abcdef", "abcxef", 6); }

TEST(harness_check_eq_prints_both_values)
{
	char *o = stderr_of(eq_size);
	CHECK(o && strstr(o, "CHECK_EQ failed: n == 2: 3 vs 2\n"));
	free(o);
	o = stderr_of(eq_big);
	/* compared by value: 2^64-1 is not -1, whatever C's conversions say */
	CHECK(o && strstr(o, "v == -1: 18446744073709551615 (0xffffffffffffffff) vs -1 (0xffffffffffffffff)"));
	free(o);
}

TEST(harness_check_streq_and_memeq_print_what_differs)
{
	char *o = stderr_of(str);
	CHECK(o && strstr(o, "\"GET /a\\r\\n\"\n   vs \"GET /b\\r\\n\""));
	free(o);
	o = stderr_of(str_null);
	CHECK(o && strstr(o, "NULL\n   vs \"x\""));
	free(o);
	o = stderr_of(mem);
	CHECK(o && strstr(o, "first difference at byte 3 of 6"));
	free(o);
}

TEST(harness_compares_by_value)
{
	CHECK_LT(-1, 1u); /* false in C: -1 converts to UINT_MAX */
	CHECK_GT(UINT64_MAX, -1);
	CHECK_EQ(2.5, 2.5f);
	CHECK_EQ((uint8_t)255, 255);
	CHECK_LE(0, 0u);
	CHECK_NE(-1, UINT64_MAX);
	CHECK_STREQ("a", "a");
	CHECK_MEMEQ("ab", "ab", 2);
}
