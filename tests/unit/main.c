/* main.c - runs every registered unit test in its own process.
 * usage: test-unit [SUBSTRING]  (only tests whose name contains it) */
#define _GNU_SOURCE
#include "harness.h"

#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct t_case *cases;
static int failed_now;
static char tmpdir[256];

void t_register(struct t_case *c)
{
	c->next = cases;
	cases = c;
}

void t_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "    %s:%d: CHECK failed: %s\n", file, line, what);
	failed_now = 1;
}

int t_failed(void) { return failed_now; }

int t_num_cmp(struct t_num a, struct t_num b)
{
	if (a.kind == 2 || b.kind == 2) {
		long double x = a.kind == 2 ? a.d : a.kind ? (long double)a.u : (long double)a.i;
		long double y = b.kind == 2 ? b.d : b.kind ? (long double)b.u : (long double)b.i;
		return (x > y) - (x < y);
	}
	if (a.kind == 0 && a.i < 0)
		return b.kind == 0 && b.i < a.i ? 1 : (b.kind == 0 && b.i == a.i ? 0 : -1);
	if (b.kind == 0 && b.i < 0)
		return 1;
	unsigned long long x = a.kind ? a.u : (unsigned long long)a.i;
	unsigned long long y = b.kind ? b.u : (unsigned long long)b.i;
	return (x > y) - (x < y);
}

static void put_num(struct t_num v)
{
	if (v.kind == 2)
		fprintf(stderr, "%.17Lg", v.d);
	else if (v.kind == 1)
		fprintf(stderr, "%llu", v.u);
	else
		fprintf(stderr, "%lld", v.i);
	long long n = v.kind == 1 ? (long long)v.u : v.i;
	if (v.kind != 2 && (n > 9 || n < 0))
		fprintf(stderr, " (0x%llx)", v.kind == 1 ? v.u : (unsigned long long)v.i);
}

void t_fail_num(const char *file, int line, const char *op, const char *expr, struct t_num a, struct t_num b)
{
	fprintf(stderr, "    %s:%d: %s failed: %s: ", file, line, op, expr);
	put_num(a);
	fprintf(stderr, " vs ");
	put_num(b);
	fputc('\n', stderr);
	failed_now = 1;
}

/* n bytes of p, escaped, quoted */
static void put_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	fputc('"', stderr);
	for (size_t i = 0; i < n && i < 400; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fprintf(stderr, "\\%c", s[i]);
		else if (s[i] >= 0x20 && s[i] < 0x7f)
			fputc(s[i], stderr);
		else if (s[i] == '\n')
			fputs("\\n", stderr);
		else if (s[i] == '\r')
			fputs("\\r", stderr);
		else
			fprintf(stderr, "\\x%02x", s[i]);
	}
	fputs(n > 400 ? "\"..." : "\"", stderr);
}

void t_fail_str(const char *file, int line, const char *expr, const char *a, const char *b)
{
	fprintf(stderr, "    %s:%d: CHECK_STREQ failed: %s:\n      ", file, line, expr);
	a ? put_bytes(a, strlen(a)) : (void)fputs("NULL", stderr);
	fprintf(stderr, "\n   vs ");
	b ? put_bytes(b, strlen(b)) : (void)fputs("NULL", stderr);
	fputc('\n', stderr);
	failed_now = 1;
}

int t_memeq(const char *file, int line, const char *expr, const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	size_t i = 0;
	while (i < n && x[i] == y[i])
		i++;
	if (i == n)
		return 0;
	size_t from = i > 16 ? i - 16 : 0, len = n - from < 48 ? n - from : 48;
	fprintf(stderr, "    %s:%d: CHECK_MEMEQ failed: %s: first difference at byte %zu of %zu:\n      ", file,
		line, expr, i, n);
	put_bytes(x + from, len);
	fprintf(stderr, "\n   vs ");
	put_bytes(y + from, len);
	fprintf(stderr, " (from byte %zu)\n", from);
	failed_now = 1;
	return 1;
}
const char *t_tmpdir(void) { return tmpdir; }

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(p);
}

static int cmp_case(const void *a, const void *b)
{
	return strcmp((*(struct t_case *const *)a)->name, (*(struct t_case *const *)b)->name);
}

int main(int argc, char **argv)
{
	int n = 0;
	for (struct t_case *c = cases; c; c = c->next)
		n++;
	struct t_case **v = calloc((size_t)n + 1, sizeof(*v));
	int i = 0;
	for (struct t_case *c = cases; c; c = c->next)
		v[i++] = c;
	qsort(v, (size_t)n, sizeof(*v), cmp_case);
	int pass = 0, fail = 0;
	for (i = 0; i < n; i++) {
		if (argc > 1 && !strstr(v[i]->name, argv[1]))
			continue;
		fflush(stdout);
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/fr-unit-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			return 2;
		}
		pid_t pid = fork();
		if (pid == 0) {
			v[i]->fn();
			fflush(stdout);
			_exit(failed_now ? 1 : 0);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		if (nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
		int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (!ok && WIFSIGNALED(st))
			fprintf(stderr, "    killed by signal %d\n", WTERMSIG(st));
		printf("%-4s %s\n", ok ? "ok" : "FAIL", v[i]->name);
		ok ? pass++ : fail++;
	}
	printf("unit: %d passed, %d failed\n", pass, fail);
	free(v);
	return fail ? 1 : 0;
}
