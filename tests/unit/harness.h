/* harness.h - the unit test harness: TEST(name) { CHECK(...); CHECK_EQ(a, b); }.
 * Each test runs in its own process (a crash fails that test only); the
 * runner prints one line per test and "N passed, N failed". */
#ifndef FLIGHTREC_HARNESS_H
#define FLIGHTREC_HARNESS_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

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

/* Comparisons that print both sides when they fail:
 *   CHECK_EQ(a, b)  CHECK_NE  CHECK_LT  CHECK_LE  CHECK_GT  CHECK_GE
 *       numbers (integers of any type or floating point; not pointers),
 *       each evaluated once and compared by value, whatever their
 *       signedness: "CHECK_EQ failed: n == 2: 3 vs 2";
 *   CHECK_STREQ(a, b)  strings (NULL allowed), shown escaped;
 *   CHECK_MEMEQ(a, b, n)  n bytes, the first difference shown. */
struct t_num {
	int kind; /* 0 signed, 1 unsigned, 2 floating */
	long long i;
	unsigned long long u;
	long double d;
};
static inline struct t_num t_num_i(long long v) { return (struct t_num){0, v, 0, 0}; }
static inline struct t_num t_num_u(unsigned long long v) { return (struct t_num){1, 0, v, 0}; }
static inline struct t_num t_num_d(long double v) { return (struct t_num){2, 0, 0, v}; }
#define T_NUM(x)                                                            \
	_Generic((x) + 0, unsigned int: t_num_u, unsigned long: t_num_u,    \
		 unsigned long long: t_num_u, float: t_num_d, double: t_num_d, \
		 long double: t_num_d, default: t_num_i)(x)
/* <0, 0, >0 as a is below, equal to or above b, by value */
int t_num_cmp(struct t_num a, struct t_num b);
void t_fail_num(const char *file, int line, const char *op, const char *expr, struct t_num a,
		struct t_num b);
void t_fail_str(const char *file, int line, const char *expr, const char *a, const char *b);
/* 0 when equal, else reports the first difference */
int t_memeq(const char *file, int line, const char *expr, const void *a, const void *b, size_t n);

#define T_CHECK_OP(name, a, op, b)                                          \
	do {                                                                \
		struct t_num t_a_ = T_NUM(a), t_b_ = T_NUM(b);              \
		if (!(t_num_cmp(t_a_, t_b_) op 0)) {                        \
			t_fail_num(__FILE__, __LINE__, name, #a " " #op " " #b, t_a_, t_b_); \
			return;                                             \
		}                                                           \
	} while (0)
#define CHECK_EQ(a, b) T_CHECK_OP("CHECK_EQ", a, ==, b)
#define CHECK_NE(a, b) T_CHECK_OP("CHECK_NE", a, !=, b)
#define CHECK_LT(a, b) T_CHECK_OP("CHECK_LT", a, <, b)
#define CHECK_LE(a, b) T_CHECK_OP("CHECK_LE", a, <=, b)
#define CHECK_GT(a, b) T_CHECK_OP("CHECK_GT", a, >, b)
#define CHECK_GE(a, b) T_CHECK_OP("CHECK_GE", a, >=, b)

#define CHECK_STREQ(a, b)                                                   \
	do {                                                                \
		const char *t_a_ = (a), *t_b_ = (b);                        \
		if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_)) {                 \
			t_fail_str(__FILE__, __LINE__, #a " == " #b, t_a_, t_b_); \
			return;                                             \
		}                                                           \
	} while (0)

#define CHECK_MEMEQ(a, b, n)                                                \
	do {                                                                \
		if (t_memeq(__FILE__, __LINE__, #a ", " #b ", " #n, (a), (b), (n))) \
			return;                                             \
	} while (0)

/* A scratch directory for the running test, removed afterwards. */
const char *t_tmpdir(void);

#endif
