/* harness.h - the unit test harness: TEST(name) { CHECK(...); }.
 * Each test runs in its own process (a crash fails that test only); the
 * runner prints one line per test and "N passed, N failed". */
#ifndef FLIGHTREC_HARNESS_H
#define FLIGHTREC_HARNESS_H

#include <stdio.h>

struct t_case {
	const char *name;
	void (*fn)(void);
	struct t_case *next;
};
void t_register(struct t_case *c);
void t_fail(const char *file, int line, const char *what);
int t_failed(void);

#define TEST(name)                                                          \
	static void name(void);                                             \
	static struct t_case name##_case = {#name, name, 0};                \
	__attribute__((constructor)) static void name##_reg(void)           \
	{                                                                   \
		t_register(&name##_case);                                   \
	}                                                                   \
	static void name(void)

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			t_fail(__FILE__, __LINE__, #cond);                  \
			return;                                             \
		}                                                           \
	} while (0)

#define CHECKF(cond, ...)                                                   \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			t_fail(__FILE__, __LINE__, #cond);                  \
			return;                                             \
		}                                                           \
	} while (0)

/* A scratch directory for the running test, removed afterwards. */
const char *t_tmpdir(void);

#endif
