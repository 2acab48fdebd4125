/* corpus.c - the decoder regression corpus.
 *
 *   flightrec corpus check [--update] DIR...
 *       every case under DIR (corpus.h says what a case holds) is analyzed
 *       and the case view of its dump (dump_case.c) compared with
 *       expected.dump; each mismatch is told by table, row key and column
 *       (corpus_diff.c); last line "N passed, N failed".  A case without
 *       input or without its manifest fails.  No shell runs: a case folder
 *       may have any name.  --update rewrites expected.dump instead
 *       (tests/corpus/regen.sh).
 *   flightrec corpus add ...  (corpus_add.c)
 */
#define _GNU_SOURCE
#include "pcap/pcap_import.h"
#include "../formats/cli.h"
#include "corpus.h"
#include "corpus_diff.h"
#include "dump_case.h"
#include "engine.h"
#include "flightrec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

/* The *.frs files of a case folder, sorted.  Count or -1. */
static int case_inputs(const char *dir, char ***out)
{
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort), k = 0;
	if (n < 0)
		return -1;
	char **v = calloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		if (v && has_suffix(list[i]->d_name, FR_SEGMENT_SUFFIX) &&
		    asprintf(&v[k], "%s/%s", dir, list[i]->d_name) > 0)
			k++;
		free(list[i]);
	}
	free(list);
	*out = v;
	return v ? k : -1;
}

/* An empty file of our own under $TMPDIR (default /tmp), its name in buf. */
static int tmp_name(char *buf, size_t len, const char *stem)
{
	snprintf(buf, len, "%s/%s-XXXXXX", fr_tmpdir(), stem);
	int fd = mkstemp(buf);
	if (fd < 0) {
		fprintf(stderr, "flightrec corpus: cannot create %s: %s\n", buf, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(p);
}

/* A case without *.frs may hold a file `source`: one capture path a line,
 * relative to the repository (e.g. ../shared/captures/http/zeek-get.pcap,
 * kept outside the repository) or to the case folder.  The paths are
 * resolved against the case folder and its ancestors, nearest first, and
 * imported (with the path as
 * written, so the MARK naming the inputs is the same wherever the check
 * runs) into a new recording tmpdir.  0 or -1 with a message. */
static int import_source(const char *dir, char *tmpdir, size_t len)
{
	char p[5200], *files[16], base[4096];
	int n = 0, rc = -1;
	snprintf(p, sizeof(p), "%s/source", dir);
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	char line[1024];
	while (n < 16 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (line[0] && line[0] != '#')
			files[n++] = strdup(line);
	}
	fclose(f);
	if (!n || !realpath(dir, base)) {
		fprintf(stderr, "%s: empty source file\n", dir);
		goto out;
	}
	for (;;) { /* the nearest folder where the first path exists */
		snprintf(p, sizeof(p), "%s/%s", base, files[0]);
		if (access(p, R_OK) == 0)
			break;
		char *slash = strrchr(base, '/');
		if (!slash || slash == base) {
			fprintf(stderr, "%s: source %s not found beside any parent folder\n", dir, files[0]);
			goto out;
		}
		*slash = 0;
	}
	snprintf(tmpdir, len, "%s/fr-corpus-rec-XXXXXX", fr_tmpdir());
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "%s: cannot create %s: %s\n", dir, tmpdir, strerror(errno));
		tmpdir[0] = 0;
		goto out;
	}
	int cwd = open(".", O_RDONLY | O_DIRECTORY);
	if (cwd < 0 || chdir(base) < 0) {
		fprintf(stderr, "%s: cannot enter %s: %s\n", dir, base, strerror(errno));
		if (cwd >= 0)
			close(cwd);
		goto out;
	}
	struct fr_pcap_opts po = {0};
	char err[1024];
	rc = fr_pcap_import((const char *const *)files, n, tmpdir, &po, NULL, err, sizeof(err)) == 2 ? -1 : 0;
	if (rc < 0)
		fprintf(stderr, "%s: %s\n", dir, err);
	if (fchdir(cwd) < 0)
		rc = -1;
	close(cwd);
out:
	for (int i = 0; i < n; i++)
		free(files[i]);
	return rc;
}

int fr_case_open(const char *dir, struct fr_case *c)
{
	memset(c, 0, sizeof(*c));
	int n = case_inputs(dir, &c->paths);
	if (n == 0 && import_source(dir, c->tmpdir, sizeof(c->tmpdir)) == 0) {
		c->paths[0] = strdup(c->tmpdir);
		n = c->paths[0] ? 1 : 0;
	}
	c->n = n > 0 ? n : 0;
	if (n <= 0) {
		fprintf(stderr, "%s: no *.frs input and no usable source file\n", dir);
		fr_case_close(c);
		return -1;
	}
	return 0;
}

void fr_case_close(struct fr_case *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->paths[i]);
	free(c->paths);
	if (c->tmpdir[0])
		nftw(c->tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	memset(c, 0, sizeof(*c));
}

/* Analyzes a case into its dump (the case view) held in memory.  0 or -1. */
static int run_case(const char *dir, char **dump, size_t *len)
{
	struct fr_case c;
	if (fr_case_open(dir, &c) < 0)
		return -1;
	char db[4096];
	if (tmp_name(db, sizeof(db), "fr-corpus") < 0) {
		fr_case_close(&c);
		return -1;
	}
	struct fr_opts o;
	fr_opts_default(&o);
	o.quiet = 1;
	int rc = fr_analyze(c.paths, c.n, db, &o);
	fr_case_close(&c);
	if (rc == EXIT_USAGE) {
		unlink(db);
		return -1;
	}
	FILE *f = open_memstream(dump, len);
	rc = f ? fr_dump_case_path(db, f) : -1;
	if (f)
		fclose(f);
	unlink(db);
	return rc;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *b = NULL;
	size_t cap = 0, n = 0, k;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(b, cap);
			if (!nb) {
				free(b);
				fclose(f);
				return NULL;
			}
			b = nb;
		}
		k = fread(b + n, 1, cap - n, f);
		n += k;
	} while (k > 0);
	fclose(f);
	*len = n;
	return b;
}

static int write_all(const char *path, const char *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	int ok = fwrite(b, 1, n, f) == n;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

struct tally {
	int pass, fail, update;
};

/* The manifest says what the client did and where the capture came from:
 * without it the corpus is not a history.  NULL when it is there, else
 * what is missing. */
static const char *manifest_problem(const char *dir)
{
	char p[4200], line[1024];
	snprintf(p, sizeof(p), "%s/" FR_CASE_MANIFEST, dir);
	FILE *f = fopen(p, "r");
	if (!f)
		return "no " FR_CASE_MANIFEST " (lines 'what:' the client did, 'capture:' where it came from)";
	int what = 0, capture = 0;
	while (fgets(line, sizeof(line), f)) {
		what |= !strncmp(line, "what:", 5) && line[5 + strspn(line + 5, " \t")] > ' ';
		capture |= !strncmp(line, "capture:", 8) && line[8 + strspn(line + 8, " \t")] > ' ';
	}
	fclose(f);
	return !what ? FR_CASE_MANIFEST " has no 'what:' line (what the client did)" :
	       !capture ? FR_CASE_MANIFEST " has no 'capture:' line (where the capture came from)" : NULL;
}

int fr_corpus_write_expected(const char *dir)
{
	char path[4200];
	char *got = NULL;
	size_t gl = 0;
	int rc = -1;
	snprintf(path, sizeof(path), "%s/" FR_CASE_EXPECTED, dir);
	if (run_case(dir, &got, &gl) < 0)
		printf("FAIL %s: cannot analyze\n", dir);
	else if (write_all(path, got, gl) < 0)
		printf("FAIL %s: cannot write %s\n", dir, path);
	else
		printf("ok   %s (updated)\n", dir), rc = 0;
	free(got);
	return rc;
}

static void check_case(const char *dir, struct tally *t)
{
	char exp_path[4200];
	snprintf(exp_path, sizeof(exp_path), "%s/" FR_CASE_EXPECTED, dir);
	const char *why = manifest_problem(dir);
	if (why) {
		printf("FAIL %s: %s\n", dir, why);
		t->fail++;
		return;
	}
	if (t->update) {
		fr_corpus_write_expected(dir) == 0 ? t->pass++ : t->fail++;
		return;
	}
	char *got = NULL;
	size_t gl = 0;
	if (run_case(dir, &got, &gl) < 0) {
		printf("FAIL %s: cannot analyze\n", dir);
		t->fail++;
		free(got);
		return;
	}
	size_t el = 0;
	char *exp = read_all(exp_path, &el);
	if (exp && el == gl && !memcmp(exp, got, gl)) {
		printf("ok   %s\n", dir);
		t->pass++;
	} else if (!exp) {
		printf("FAIL %s: no readable " FR_CASE_EXPECTED " (tests/corpus/regen.sh %s writes it)\n", dir, dir);
		t->fail++;
	} else {
		printf("FAIL %s: differs from " FR_CASE_EXPECTED ":\n", dir);
		if (fr_dump_compare(exp, el, got, gl, stdout, "     ", 40) == 0)
			printf("     the same rows, but not the same bytes (order or line ends)\n");
		t->fail++;
	}
	free(exp);
	free(got);
}

static int exists(const char *dir, const char *name)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

int fr_corpus_is_case(const char *dir)
{
	char **in;
	int nin = case_inputs(dir, &in);
	for (int i = 0; i < nin; i++)
		free(in[i]);
	if (nin >= 0)
		free(in);
	return nin > 0 || exists(dir, FR_CASE_EXPECTED) || exists(dir, "source") || exists(dir, FR_CASE_MANIFEST);
}

/* A case is checked; another folder's subfolders are walked. */
static void walk(const char *dir, struct tally *t)
{
	if (fr_corpus_is_case(dir)) {
		check_case(dir, t);
		return;
	}
	char p[4200];
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		if (list[i]->d_name[0] != '.') {
			snprintf(p, sizeof(p), "%s/%s", dir, list[i]->d_name);
			if (is_dir(p))
				walk(p, t);
		}
		free(list[i]);
	}
	if (n >= 0)
		free(list);
}

static int corpus_check(int argc, char **argv)
{
	struct tally t = {0};
	int i = 1;
	if (i < argc && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")))
		return cmd_corpus(2, (char *[]){"corpus", "--help", NULL});
	if (i < argc && !strcmp(argv[i], "--update")) {
		t.update = 1;
		i++;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: flightrec corpus check [--update] DIR...\n");
		return EXIT_USAGE;
	}
	for (; i < argc; i++) {
		if (!is_dir(argv[i])) {
			fprintf(stderr, "flightrec corpus: %s is not a folder\n", argv[i]);
			return EXIT_USAGE;
		}
		walk(argv[i], &t);
	}
	printf("corpus: %d passed, %d failed\n", t.pass, t.fail);
	return t.fail ? EXIT_DAMAGED : EXIT_OK;
}

void fr_corpus_usage(FILE *f)
{
	fprintf(f, "usage: flightrec corpus check [--update] DIR...\n"
		   "       flightrec corpus add RECORDING (--conn ID | --from TIME --to TIME) --name NAME\n"
		   "                            [--protocol P] [--corpus DIR]\n"
		   "\n"
		   "A case is a folder DIR/<protocol>/<name>/ holding its input (*.frs segments,\n"
		   "or a file 'source' naming packet captures relative to the repository, e.g.\n"
		   "../shared/captures/x.pcap, imported on the fly), " FR_CASE_EXPECTED " (the case's\n"
		   "own rows: `flightrec dump --case`) and " FR_CASE_MANIFEST " ('what:' the client did,\n"
		   "'capture:' where the capture came from).\n"
		   "\n"
		   "check: replays every case; names the table, row and column of each mismatch,\n"
		   "then 'N passed, N failed'.  --update rewrites the expected dumps (review them).\n"
		   "add: cuts a connection (with its peer) or a time range of a recording into a\n"
		   "new case, with its expected dump and a " FR_CASE_MANIFEST " to fill in.  TIME: ns as\n"
		   "in the recording, or UTC wall clock 2026-11-24T22:01:59[.123]Z (as analyze).\n"
		   "\n"
		   "Protocols:");
	for (int i = 0; fr_protocols[i]; i++)
		fprintf(f, " %s", fr_protocols[i]->name);
	fprintf(f, " (and 'mixed' for cases of several)\n");
}

int cmd_corpus(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return corpus_check(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "add"))
		return fr_corpus_add(argc - 1, argv + 1);
	FILE *f = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr;
	fr_corpus_usage(f);
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}
