/* corpus.c - the decoder regression corpus.
 *
 *   flightrec corpus check [--update] DIR...
 *       every case under DIR (a folder holding *.frs inputs, or a file
 *       `source` naming packet captures, and expected.dump) is analyzed and its dump compared with the expected
 *       one; a unified diff for each mismatch; last line "N passed, N failed".
 *       --update rewrites expected.dump instead (tests/corpus/regen.sh).
 *   flightrec corpus add RECORDING (--conn ID | --from T --to T) --name NAME
 *       [--protocol P] [--corpus DIR]
 *       cuts one connection (and its peer, when both ends were recorded) or
 *       a time range out of a recording into DIR/<protocol>/<NAME>/ with its
 *       expected dump.
 */
#define _GNU_SOURCE
#include "pcap/pcap_import.h"
#include "../formats/cli.h"
#include "engine.h"
#include "flightrec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <sqlite3.h>
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
 * kept outside the repository).  The paths are resolved against the case
 * folder's ancestors, nearest first, and imported (with the path as
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
	for (;;) { /* the nearest ancestor where the first path exists */
		char *slash = strrchr(base, '/');
		if (!slash || slash == base) {
			fprintf(stderr, "%s: source %s not found beside any parent folder\n", dir, files[0]);
			goto out;
		}
		*slash = 0;
		snprintf(p, sizeof(p), "%s/%s", base, files[0]);
		if (access(p, R_OK) == 0)
			break;
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

/* Analyzes a case into a dump held in memory.  0 or -1. */
static int run_case(const char *dir, char **dump, size_t *len)
{
	char **in;
	char tmpdir[4096] = "";
	int n = case_inputs(dir, &in);
	if (n == 0 && import_source(dir, tmpdir, sizeof(tmpdir)) == 0) {
		in[0] = strdup(tmpdir);
		n = in[0] ? 1 : 0;
	}
	if (n <= 0) {
		fprintf(stderr, "%s: no *.frs input and no usable source file\n", dir);
		if (n == 0)
			free(in);
		if (tmpdir[0])
			nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return -1;
	}
	char db[4096];
	if (tmp_name(db, sizeof(db), "fr-corpus") < 0)
		return -1;
	struct fr_opts o;
	fr_opts_default(&o);
	o.quiet = 1;
	int rc = fr_analyze(in, n, db, &o);
	for (int i = 0; i < n; i++)
		free(in[i]);
	free(in);
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rc == EXIT_USAGE) {
		unlink(db);
		return -1;
	}
	FILE *f = open_memstream(dump, len);
	rc = f ? fr_dump_path(db, f) : -1;
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

static void check_case(const char *dir, struct tally *t)
{
	char exp_path[4096];
	snprintf(exp_path, sizeof(exp_path), "%s/expected.dump", dir);
	char *got = NULL;
	size_t gl = 0;
	if (run_case(dir, &got, &gl) < 0) {
		printf("FAIL %s: cannot analyze\n", dir);
		t->fail++;
		free(got);
		return;
	}
	if (t->update) {
		if (write_all(exp_path, got, gl) < 0) {
			printf("FAIL %s: cannot write %s\n", dir, exp_path);
			t->fail++;
		} else {
			printf("ok   %s (updated)\n", dir);
			t->pass++;
		}
		free(got);
		return;
	}
	size_t el = 0;
	char *exp = read_all(exp_path, &el);
	if (exp && el == gl && !memcmp(exp, got, gl)) {
		printf("ok   %s\n", dir);
		t->pass++;
	} else {
		printf("FAIL %s: dump differs from expected.dump\n", dir);
		char act[4096];
		if (tmp_name(act, sizeof(act), "fr-actual") == 0) {
			write_all(act, got, gl);
			char cmd[8400];
			snprintf(cmd, sizeof(cmd), "diff -u '%s' '%s' | head -200", exp ? exp_path : "/dev/null", act);
			fflush(stdout);
			if (system(cmd) < 0)
				printf("(diff failed)\n");
			unlink(act);
		}
		t->fail++;
	}
	free(exp);
	free(got);
}

static void walk(const char *dir, struct tally *t)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/expected.dump", dir);
	char **in;
	int nin = case_inputs(dir, &in);
	for (int i = 0; i < nin; i++)
		free(in[i]);
	if (nin >= 0)
		free(in);
	char src[4096];
	snprintf(src, sizeof(src), "%s/source", dir);
	if (access(p, F_OK) == 0 || nin > 0 || access(src, F_OK) == 0) { /* a case */
		check_case(dir, t);
		return;
	}
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

/* ---- add ----------------------------------------------------------------- */

struct sel {
	char node[256];
	struct fr_connkey k;
};

static int mkdirs(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static int corpus_add(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"conn", required_argument, 0, 'c'}, {"from", required_argument, 0, 'F'},
		{"to", required_argument, 0, 'T'},   {"name", required_argument, 0, 'n'},
		{"protocol", required_argument, 0, 'p'}, {"corpus", required_argument, 0, 'C'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	uint64_t conn = 0;
	const char *name = NULL, *proto = NULL, *corpus = "tests/corpus";
	uint64_t from = 0, to = UINT64_MAX;
	int have_range = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		const char *bad = NULL;
		switch (c) {
		case 'c': bad = fr_parse_u64(optarg, &conn) || !conn ? "--conn: a connection id (1, 2, ...)" : NULL; break;
		case 'F': bad = fr_parse_u64(optarg, &from) ? "--from: ns as in the recording" : NULL, have_range = 1; break;
		case 'T': bad = fr_parse_u64(optarg, &to) ? "--to: ns as in the recording" : NULL, have_range = 1; break;
		case 'n': name = optarg; break;
		case 'p': proto = optarg; break;
		case 'C': corpus = optarg; break;
		case 'h': return cmd_corpus(2, (char *[]){"corpus", "--help", NULL});
		default: return EXIT_USAGE;
		}
		if (bad) {
			fprintf(stderr, "flightrec corpus add: %s, not '%s'\n", bad, optarg);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !name || !conn == !have_range || strchr(name, '/')) {
		fprintf(stderr, "usage: flightrec corpus add RECORDING (--conn ID | --from NS --to NS) --name NAME\n"
				"                            [--protocol P] [--corpus DIR]\n");
		return EXIT_USAGE;
	}
	const char *rec = argv[optind];
	struct sel sel[2];
	int nsel = 0;
	char proto_buf[64] = "mixed";
	if (conn) {
		/* which kernel connection(s) is database connection ID? */
		char db[4096];
		if (tmp_name(db, sizeof(db), "fr-corpus-add") < 0)
			return EXIT_USAGE;
		struct fr_opts o;
		fr_opts_default(&o);
		o.quiet = 1;
		char *paths[1] = {(char *)rec};
		if (fr_analyze(paths, 1, db, &o) == EXIT_USAGE) {
			unlink(db);
			return EXIT_USAGE;
		}
		sqlite3 *h;
		sqlite3_stmt *st;
		if (sqlite3_open(db, &h) != SQLITE_OK ||
		    sqlite3_prepare_v2(h, "SELECT node, pid, fd, gen, coalesce(protocol, 'unknown') FROM connections "
					  "WHERE id = ?1 OR id = (SELECT peer_conn_id FROM connections WHERE id = ?1) ORDER BY id",
				       -1, &st, NULL) != SQLITE_OK) {
			sqlite3_close(h);
			unlink(db);
			return EXIT_USAGE;
		}
		sqlite3_bind_int64(st, 1, (sqlite3_int64)conn);
		while (sqlite3_step(st) == SQLITE_ROW && nsel < 2) {
			snprintf(sel[nsel].node, sizeof(sel[nsel].node), "%s", sqlite3_column_text(st, 0));
			sel[nsel].k.pid = (uint32_t)sqlite3_column_int64(st, 1);
			sel[nsel].k.fd = (uint32_t)sqlite3_column_int64(st, 2);
			sel[nsel].k.gen = (uint32_t)sqlite3_column_int64(st, 3);
			snprintf(proto_buf, sizeof(proto_buf), "%s", sqlite3_column_text(st, 4));
			nsel++;
		}
		sqlite3_finalize(st);
		sqlite3_close(h);
		unlink(db);
		if (!nsel) {
			fprintf(stderr, "flightrec corpus add: no connection %llu in %s\n", (unsigned long long)conn, rec);
			return EXIT_USAGE;
		}
	}
	if (proto)
		snprintf(proto_buf, sizeof(proto_buf), "%s", proto);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/%s/%s", corpus, proto_buf, name);
	if (is_dir(dir)) {
		fprintf(stderr, "flightrec corpus add: %s exists; pick another --name\n", dir);
		return EXIT_USAGE;
	}
	if (mkdirs(dir) < 0) {
		fprintf(stderr, "flightrec corpus add: cannot create %s: %s\n", dir, strerror(errno));
		return EXIT_USAGE;
	}
	char err[512];
	char **list;
	int n = fr_list_segments(rec, &list, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "flightrec corpus add: %s\n", err);
		return EXIT_USAGE;
	}
	/* one output segment per node, records copied in file order */
	int rc = EXIT_OK;
	struct {
		char node[256];
		struct fr_writer *w;
	} outs[16];
	int nout = 0;
	uint64_t copied = 0;
	for (int i = 0; i < n; i++) {
		struct fr_reader *r = fr_reader_open(list[i], err, sizeof(err));
		if (!r)
			continue;
		const struct fr_header *h = fr_reader_header(r);
		int oi;
		for (oi = 0; oi < nout; oi++)
			if (!strcmp(outs[oi].node, h->node))
				break;
		if (oi == nout) {
			if (nout == 16) {
				fr_reader_free(r);
				continue;
			}
			char path[4200];
			snprintf(path, sizeof(path), "%s/input-%d.frs", dir, nout);
			struct fr_header nh = *h;
			nh.segment_index = 0;
			outs[nout].w = fr_writer_open(path, &nh, NULL, err, sizeof(err));
			if (!outs[nout].w) {
				fprintf(stderr, "flightrec corpus add: %s\n", err);
				fr_reader_free(r);
				rc = EXIT_USAGE;
				break;
			}
			snprintf(outs[nout].node, sizeof(outs[nout].node), "%s", h->node);
			nout++;
		}
		struct fr_record rr;
		while (fr_reader_next(r, &rr) > 0) {
			int keep = 0;
			const struct fr_connkey *k = rr.kind == FR_DATA ? &rr.u.data.conn :
						     rr.kind == FR_CONN_OPEN ? &rr.u.open.conn :
						     rr.kind == FR_CONN_CLOSE ? &rr.u.close.conn : NULL;
			if (conn) {
				for (int s = 0; s < nsel; s++) {
					if (strcmp(sel[s].node, h->node))
						continue;
					if (k && k->pid == sel[s].k.pid && k->fd == sel[s].k.fd && k->gen == sel[s].k.gen)
						keep = 1;
					if (rr.kind == FR_PROCESS && rr.u.proc.pid == sel[s].k.pid)
						keep = 1;
				}
				if (rr.kind == FR_POD || rr.kind == FR_SERVICE)
					keep = 1;
			} else {
				keep = rr.ts >= from && rr.ts <= to;
				if (rr.kind == FR_PROCESS || rr.kind == FR_POD || rr.kind == FR_SERVICE)
					keep = 1;
			}
			if (keep && fr_writer_add(outs[oi].w, &rr) == 0)
				copied++;
		}
		fr_reader_free(r);
	}
	fr_free_list(list, n);
	for (int i = 0; i < nout; i++)
		if (fr_writer_close(outs[i].w) < 0)
			rc = EXIT_USAGE;
	if (rc != EXIT_OK)
		return rc;
	struct tally t = {0, 0, 1};
	check_case(dir, &t);
	printf("%s: %llu records; review %s/expected.dump before committing\n", dir,
	       (unsigned long long)copied, dir);
	return t.fail ? EXIT_USAGE : EXIT_OK;
}

int cmd_corpus(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return corpus_check(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "add"))
		return corpus_add(argc - 1, argv + 1);
	FILE *f = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr;
	fprintf(f, "usage: flightrec corpus check [--update] DIR...\n"
		   "       flightrec corpus add RECORDING (--conn ID | --from NS --to NS) --name NAME\n"
		   "                            [--protocol P] [--corpus DIR]\n"
		   "\n"
		   "check: replays every case (a folder with *.frs inputs, or a file 'source'\n"
		   "naming captures relative to the repository, e.g. ../shared/captures/x.pcap,\n"
		   "imported on the fly; and expected.dump),\n"
		   "prints a diff per mismatch and 'N passed, N failed'; --update rewrites the\n"
		   "expected dumps (review them!).  add: cuts a connection (with its peer) or a\n"
		   "time range of a recording into a new case.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}
