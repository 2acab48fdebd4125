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
