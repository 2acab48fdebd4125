/* mutate.c - the mutation run of `make test` (issue 11, "hostile input"):
 * mutants of real inputs (the corpus's segments, the shared pcaps) through
 * the whole analyzer, `flightrec analyze`, built with ASan and UBSan.
 *
 * usage: mutate [--seed N] [--per N] [--jobs N] [--rss-mb N] [--timeout S]
 *               [--keep DIR] WORKDIR INPUT...
 *
 * Each INPUT gives --per mutants (default 14), made by a deterministic
 * generator seeded with --seed and the input's position:
 *   bitflip    1..8 random bits flipped in the file
 *   truncate   the file cut at a random length
 *   hugelen    a 2, 4 or 8-byte field at a random offset set to a huge
 *              length (0xffff, 0x7fffffff, 0xffffffff, 2^63-1, 2^64-1),
 *              in either byte order
 *   dupblock   a random range of the file inserted again after itself
 * and, for a segment (recognised by the reader), the same four applied to
 * the payload of DATA records, re-encoded through the segment writer so the
 * bytes get past the block checksums into the protocol parsers (dupblock
 * then repeats a run of records).
 *
 * Every mutant runs in a forked child, --jobs (2) at a time (cmd_analyze
 * in-process: no exec, no sanitizer start-up per mutant) with a watchdog:
 * a 20 ms timer that
 * reads /proc/self/statm and ends the child with exit 87 above --rss-mb
 * (ASan reserves terabytes of address space, so RLIMIT_AS cannot be used)
 * and with exit 88 after --timeout seconds.  A child passes when it exits
 * 0, 1 or 2 (analyze's codes) and wrote no sanitizer report on stderr.
 * Prints one FAIL line per failing mutant (kept under --keep), the count
 * per outcome, the largest RSS of any child, and "N passed, N failed".
 */
#define _GNU_SOURCE
#include "../../analyze/flightrec.h"
#include "../../formats/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

enum { OP_BITFLIP, OP_TRUNCATE, OP_HUGELEN, OP_DUPBLOCK, N_OPS };
static const char *op_name[N_OPS] = {"bitflip", "truncate", "hugelen", "dupblock"};

/* ---- deterministic generator (splitmix64) ------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

/* ---- byte-level mutations ---------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t n;
};

static void put_huge(uint8_t *p, size_t room)
{
	static const uint64_t v[] = {0xffff, 0x7fffffff, 0xffffffff, 0x7fffffffffffffffull,
				     0xffffffffffffffffull, 0x80000000, 0x1000000};
	uint64_t x = v[rnd_below(sizeof(v) / sizeof(v[0]))];
	size_t w = (size_t)1 << (1 + rnd_below(3)); /* 2, 4 or 8 bytes */
	if (w > room)
		w = room;
	int big = (int)(rnd() & 1);
	for (size_t i = 0; i < w; i++)
		p[big ? w - 1 - i : i] = (uint8_t)(x >> (8 * i));
}

/* Applies op to b in place (b->p has room for 2 * b->n + 1 bytes). */
static void mutate_bytes(struct buf *b, int op)
{
	if (!b->n)
		return;
	switch (op) {
	case OP_BITFLIP:
		for (int k = 1 + (int)rnd_below(8); k > 0; k--) {
			size_t i = rnd_below(b->n);
			b->p[i] ^= (uint8_t)(1u << rnd_below(8));
		}
		break;
	case OP_TRUNCATE:
		b->n = rnd_below(b->n);
		break;
	case OP_HUGELEN: {
		size_t i = rnd_below(b->n);
		put_huge(b->p + i, b->n - i);
		break;
	}
	case OP_DUPBLOCK: {
		size_t a = rnd_below(b->n), len = 1 + rnd_below(b->n - a);
		memmove(b->p + a + 2 * len, b->p + a + len, b->n - a - len);
		memcpy(b->p + a + len, b->p + a, len);
		b->n += len;
		break;
	}
	}
}

static int read_file(const char *path, struct buf *b)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return -1;
	}
	b->n = (size_t)st.st_size;
	b->p = malloc(2 * b->n + 1);
	size_t got = b->p ? fread(b->p, 1, b->n, f) : 0;
	fclose(f);
	return got == b->n ? 0 : -1;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
	unlink(path);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(p, 1, n, f);
	return fclose(f) == 0 && w == n ? 0 : -1;
}

/* ---- record-level mutations (segments) ---------------------------------- */

/* Rewrites segment IN as OUT with op applied to the payload of one DATA
 * record in eight (at least one), or, for dupblock, a run of records
 * repeated.  Returns 0, or -1 when IN is not a readable segment. */
static int mutate_records(const char *in, const char *out, int op)
{
	char err[256];
	struct fr_reader *r = fr_reader_open(in, err, sizeof(err));
	if (!r)
		return -1;
	struct fr_header h = *fr_reader_header(r);
	unlink(out);
	struct fr_writer *w = fr_writer_open(out, &h, NULL, err, sizeof(err));
	if (!w) {
		fr_reader_free(r);
		return -1;
	}
	fr_reader_set_range(r, 0, UINT64_MAX);
	struct fr_record rec;
	uint64_t seq = 0;
	int done = 0;
	static uint8_t pay[2 * FR_MAX_SNAPLEN + 1];
	while (fr_reader_next(r, &rec) > 0) {
		int dups = 1;
		if (rec.kind == FR_DATA && rec.u.data.payload.len && rec.u.data.payload.len <= FR_MAX_SNAPLEN &&
		    (!done || rnd_below(8) == 0)) {
			if (op == OP_DUPBLOCK) {
				dups = 2 + (int)rnd_below(3);
			} else {
				struct buf b = {pay, rec.u.data.payload.len};
				memcpy(pay, rec.u.data.payload.p, b.n);
				mutate_bytes(&b, op);
				rec.u.data.payload.p = pay;
				rec.u.data.payload.len = (uint32_t)b.n;
				if (rec.u.data.orig_len < b.n)
					rec.u.data.orig_len = (uint32_t)b.n;
			}
			done = 1;
		}
		for (int i = 0; i < dups; i++) {
			rec.seq = ++seq;
			fr_writer_add(w, &rec);
		}
	}
	fr_reader_free(r);
	return fr_writer_close(w) < 0 ? -1 : 0;
}

/* ---- the child: cmd_analyze under a watchdog ----------------------------- */

static long rss_limit_pages, tick_limit;
static volatile sig_atomic_t ticks;

static void watchdog(int sig)
{
	(void)sig;
	int saved = errno;
	char s[128];
	int fd = open("/proc/self/statm", O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, s, sizeof(s) - 1);
		close(fd);
		s[n > 0 ? n : 0] = 0;
		char *sp = strchr(s, ' ');
		if (sp && strtol(sp + 1, NULL, 10) > rss_limit_pages) {
			static const char m[] = "mutate: RSS limit exceeded\n";
			ssize_t k = write(2, m, sizeof(m) - 1);
			(void)k;
			_exit(87);
		}
	}
	if (++ticks > tick_limit) {
		static const char m[] = "mutate: timeout\n";
		ssize_t k = write(2, m, sizeof(m) - 1);
		(void)k;
		_exit(88);
	}
	errno = saved;
}

static void run_child(const char *input, const char *db, const char *errpath)
{
	int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
	fd = open("/dev/null", O_WRONLY);
	if (fd >= 0) {
		dup2(fd, 1);
		close(fd);
	}
	signal(SIGALRM, watchdog);
	struct itimerval it = {{0, 20000}, {0, 20000}};
	setitimer(ITIMER_REAL, &it, NULL);
	char *argv[] = {"analyze", "-q", "-j", "1", (char *)input, "-o", (char *)db, NULL};
	int rc = cmd_analyze(7, argv);
	fflush(NULL);
	exit(rc); /* exit, not _exit: LeakSanitizer runs at exit */
}

/* 1 when the child's stderr holds a sanitizer report. */
static int sanitizer_report(const char *errpath)
{
	FILE *f = fopen(errpath, "r");
	if (!f)
		return 0;
	char line[1024];
	int hit = 0;
	while (!hit && fgets(line, sizeof(line), f))
		hit = strstr(line, "Sanitizer") || strstr(line, "runtime error:");
	fclose(f);
	return hit;
}

static void show_tail(const char *errpath)
{
	FILE *f = fopen(errpath, "r");
	if (!f)
		return;
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof(line), f) && n++ < 30)
		fprintf(stderr, "    %s", line);
	fclose(f);
}

/* ---- the run: up to --jobs children at a time --------------------------- */

struct slot {
	pid_t pid; /* 0: free */
	int input, k, op, records;
	char mpath[4096], db[4096], errpath[4096];
};

static struct {
	char **inputs;
	uint64_t seed;
	const char *keep;
	long pass, fail, outcome[3], maxrss_kb;
} run;

/* Makes mutant k of input i in slot sl.  0, or -1 when it cannot. */
static int make_mutant(struct slot *sl, const struct buf *orig, int i, int k)
{
	const char *path = run.inputs[i];
	const char *ext = strstr(path, ".frs") ? "frs" : "pcap";
	rng_state = run.seed * 1000003u + (uint64_t)i * 7919u + (uint64_t)k;
	sl->input = i;
	sl->k = k;
	sl->op = k % N_OPS;
	sl->records = !strcmp(ext, "frs") && (k / N_OPS) % 2 == 1;
	char *dot = strrchr(sl->mpath, '.');
	snprintf(dot + 1, sizeof(sl->mpath) - (size_t)(dot + 1 - sl->mpath), "%s", ext);
	if (sl->records)
		return mutate_records(path, sl->mpath, sl->op);
	uint8_t *copy = malloc(2 * orig->n + 1);
	if (!copy)
		return -1;
	memcpy(copy, orig->p, orig->n);
	struct buf b = {copy, orig->n};
	mutate_bytes(&b, sl->op);
	int rc = write_file(sl->mpath, b.p, b.n);
	free(copy);
	return rc;
}

/* The child of slot sl ended with status st. */
static void judge(struct slot *sl, int st, const struct rusage *ru)
{
	if (ru->ru_maxrss > run.maxrss_kb)
		run.maxrss_kb = ru->ru_maxrss;
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	const char *why = NULL;
	if (WIFSIGNALED(st))
		why = strsignal(WTERMSIG(st));
	else if (rc == 87)
		why = "RSS limit exceeded";
	else if (rc == 88)
		why = "timeout";
	else if (rc > 2 || sanitizer_report(sl->errpath))
		why = "sanitizer report";
	if (why) {
		run.fail++;
		printf("FAIL %s mutant %d (%s%s, seed %llu): %s\n", run.inputs[sl->input], sl->k,
		       op_name[sl->op], sl->records ? " in DATA payloads" : "", (unsigned long long)run.seed, why);
		fflush(stdout);
		show_tail(sl->errpath);
		if (run.keep) {
			char kp[4096];
			mkdir(run.keep, 0700);
			snprintf(kp, sizeof(kp), "%s/%d-%d%s", run.keep, sl->input, sl->k, strrchr(sl->mpath, '.'));
			rename(sl->mpath, kp);
		}
	} else {
		run.pass++;
		run.outcome[rc]++;
	}
	unlink(sl->mpath);
	unlink(sl->db);
	sl->pid = 0;
}

/* Waits for one child; returns its slot's index, or -1. */
static int reap(struct slot *slots, int jobs)
{
	int st = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	pid_t pid;
	while ((pid = wait4(-1, &st, 0, &ru)) < 0 && errno == EINTR)
		;
	for (int j = 0; pid > 0 && j < jobs; j++)
		if (slots[j].pid == pid) {
			judge(&slots[j], st, &ru);
			return j;
		}
	return -1;
}

int main(int argc, char **argv)
{
	int per = 14, timeout = 60, jobs = 2, i;
	long rss_mb = 1024;
	run.seed = 11;
	for (i = 1; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--seed"))
			run.seed = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--per"))
			per = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--jobs"))
			jobs = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--rss-mb"))
			rss_mb = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--timeout"))
			timeout = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--keep"))
			run.keep = argv[i + 1];
		else
			break;
	}
	if (argc - i < 2 || per < 1 || jobs < 1 || jobs > 16) {
		fprintf(stderr, "usage: mutate [--seed N] [--per N] [--jobs N] [--rss-mb N] [--timeout S] [--keep DIR] "
				"WORKDIR INPUT...\n");
		return 2;
	}
	const char *work = argv[i++];
	run.inputs = argv + i;
	int nin = argc - i;
	rss_limit_pages = rss_mb * (1 << 20) / sysconf(_SC_PAGESIZE);
	tick_limit = timeout * 50L;
	setenv("TMPDIR", work, 1);
	struct slot slots[16];
	memset(slots, 0, sizeof(slots));
	for (int j = 0; j < jobs; j++) {
		snprintf(slots[j].mpath, sizeof(slots[j].mpath), "%s/mutant%d.frs", work, j);
		snprintf(slots[j].db, sizeof(slots[j].db), "%s/mutant%d.db", work, j);
		snprintf(slots[j].errpath, sizeof(slots[j].errpath), "%s/mutant%d.err", work, j);
	}
	int running = 0;
	for (int in = 0; in < nin; in++) {
		struct buf orig;
		if (read_file(run.inputs[in], &orig) < 0) {
			printf("FAIL %s: unreadable input\n", run.inputs[in]);
			run.fail++;
			continue;
		}
		for (int k = 0; k < per; k++) {
			int j = 0;
			while (j < jobs && slots[j].pid)
				j++;
			if (j == jobs) {
				j = reap(slots, jobs);
				running--;
				if (j < 0)
					break;
			}
			if (make_mutant(&slots[j], &orig, in, k) < 0) {
				printf("FAIL %s mutant %d: could not be written\n", run.inputs[in], k);
				run.fail++;
				continue;
			}
			fflush(stdout);
			pid_t pid = fork();
			if (pid == 0)
				run_child(slots[j].mpath, slots[j].db, slots[j].errpath);
			if (pid < 0) {
				printf("FAIL fork: %s\n", strerror(errno));
				run.fail++;
				continue;
			}
			slots[j].pid = pid;
			running++;
		}
		free(orig.p);
	}
	while (running > 0 && reap(slots, jobs) >= 0)
		running--;
	for (int j = 0; j < jobs; j++)
		unlink(slots[j].errpath);
	printf("# mutants: %ld of %d inputs (seed %llu); analyze exit 0: %ld, 1 (damaged): %ld, 2 (refused): %ld\n",
	       run.pass + run.fail, nin, (unsigned long long)run.seed, run.outcome[0], run.outcome[1],
	       run.outcome[2]);
	printf("# largest RSS of analyze on a mutant: %ld MiB (limit %ld MiB)\n", (run.maxrss_kb + 1023) / 1024,
	       rss_mb);
	printf("mutants: %ld passed, %ld failed\n", run.pass, run.fail);
	return run.fail ? 1 : 0;
}
