/* driver.c - runs a libFuzzer harness on files, without libFuzzer: each
 * argument is a file or a directory of files (and subdirectories).  `make test` uses it to replay
 * the corpora, so that a crash found once stays fixed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* called first when the harness defines it, as libFuzzer does */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	size_t cap = 1 << 16, n = 0;
	uint8_t *b = malloc(cap);
	size_t k;
	while ((k = fread(b + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap)
			b = realloc(b, cap *= 2);
	}
	fclose(f);
	/* exact-size copy so ASan catches any over-read */
	uint8_t *exact = malloc(n ? n : 1);
	memcpy(exact, b, n);
	free(b);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}


/* A file, or every file under a folder (subfolders too, in name order). */
static int run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		perror(path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	struct dirent **list;
	int n = scandir(path, &list, NULL, alphasort), rc = 0;
	for (int j = 0; j < n; j++) {
		if (list[j]->d_name[0] != '.') {
			char *p;
			if (asprintf(&p, "%s/%s", path, list[j]->d_name) > 0) {
				rc |= run_path(p);
				free(p);
			}
		}
		free(list[j]);
	}
	if (n >= 0)
		free(list);
	return rc;
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	int rc = 0;
	for (int i = 1; i < argc; i++)
		rc |= run_path(argv[i]);
	return rc;
}
