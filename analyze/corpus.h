/* corpus.h - the decoder regression corpus (corpus.c, corpus_add.c), and
 * what the tests take from it (tests/unit/test_split.c reads every case's
 * input the way `corpus check` does).
 *
 * A case is a folder tests/corpus/<protocol>/<case>/ holding its input
 * (*.frs segments, or a file `source` naming packet captures), its
 * expected output (expected.dump: `flightrec dump --case` of its analysis)
 * and its manifest (case.txt: what the client did, where the capture came
 * from). */
#ifndef FLIGHTREC_CORPUS_H
#define FLIGHTREC_CORPUS_H

#define FR_CASE_EXPECTED "expected.dump"
#define FR_CASE_MANIFEST "case.txt"

/* The inputs of one case, as paths fr_analyze() takes. */
struct fr_case {
	char **paths; /* the case's *.frs files, sorted, or the recording
		       * imported from its `source` captures */
	int n;
	char tmpdir[4096]; /* that imported recording ("" if none) */
};

/* 1 when the folder dir is a case: it holds an expected dump, a source
 * list or a manifest (inputs alone do not make one).  `corpus check`
 * walks folders down to their cases. */
int fr_corpus_is_case(const char *dir);

/* Finds the inputs of the case at dir; a `source` file's captures are
 * imported into a new recording under $TMPDIR.  Returns 0, or -1 with a
 * message on stderr when the case has no usable input (c is then empty).
 * fr_case_close() frees what it holds and removes the recording. */
int fr_case_open(const char *dir, struct fr_case *c);
void fr_case_close(struct fr_case *c);

/* Analyzes the case at dir and writes its expected.dump; prints "ok DIR
 * (updated)" or "FAIL DIR: why".  0 or -1. */
int fr_corpus_write_expected(const char *dir);

/* `flightrec corpus add ...` (corpus_add.c); argv[0] is "add". */
int fr_corpus_add(int argc, char **argv);
/* Prints the usage of `flightrec corpus` to f. */
void fr_corpus_usage(FILE *f);

#endif
