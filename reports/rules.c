/* rules.c - alert rules (rules.h): the parser of a rules file
 * (reports/rules.conf describes the format) and the evaluator, which cuts
 * the recording into windows of wall-clock time, measures each rule's
 * metric per subject and window in SQL, and writes a run of consecutive
 * windows above the threshold as one row of the `alerts` table. */
#include "rules.h"
#include "embedded.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const metric_names[] = {
	[FR_METRIC_ERROR_RATE] = "error_rate",         [FR_METRIC_P99_LATENCY] = "p99_latency",
	[FR_METRIC_DNS_FAILURES] = "dns_failure_rate", [FR_METRIC_CONN_RESETS] = "conn_resets",
	[FR_METRIC_RETRANSMITS] = "retransmits",       [FR_METRIC_LOSSES] = "losses",
};
#define NMETRIC ((int)(sizeof(metric_names) / sizeof(metric_names[0])))

const char *fr_metric_name(enum fr_metric m)
{
	return (int)m >= 0 && (int)m < NMETRIC ? metric_names[m] : "?";
}

/* ---- parser ------------------------------------------------------------ */

/* A number with an optional unit: "%" (a share), ns us ms s m h (a
 * duration in ns).  *kind is '%', 't' (time) or 0 (a plain number).
 * Returns 0 or -1. */
static int parse_value(const char *s, double *v, char *kind)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	if (end == s || errno || *v < 0 || *v != *v)
		return -1;
	static const struct {
		const char *unit;
		double mul;
		char kind;
	} units[] = {{"", 1, 0},      {"%", 0.01, '%'}, {"ns", 1, 't'},     {"us", 1e3, 't'},
		     {"ms", 1e6, 't'}, {"s", 1e9, 't'},  {"m", 60e9, 't'},   {"h", 3600e9, 't'}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].unit)) {
			*v *= units[i].mul;
			*kind = units[i].kind;
			return 0;
		}
	return -1;
}

static int fail(char *err, size_t errlen, const char *origin, int line, const char *fmt, ...)
{
	va_list ap;
	int o = snprintf(err, errlen, "%s:%d: ", origin, line);
	va_start(ap, fmt);
	if (o >= 0 && (size_t)o < errlen)
		vsnprintf(err + o, errlen - (size_t)o, fmt, ap);
	va_end(ap);
	return -1;
}

/* Parses the fields of one rule line into *r.  Returns 0 or -1 (err). */
static int parse_rule(char **f, int nf, struct fr_rule *r, const char *origin, int line, char *err, size_t errlen)
{
	const char *want = "NAME METRIC > THRESHOLD WINDOW MIN SEVERITY";
	if (nf != 7)
		return fail(err, errlen, origin, line, "%d fields where a rule has 7: %s", nf, want);
	memset(r, 0, sizeof(*r));
	size_t nl = strlen(f[0]);
	if (nl >= sizeof(r->name) || strspn(f[0], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != nl)
		return fail(err, errlen, origin, line, "bad rule name '%s' (up to 63 letters, digits, - _ .)", f[0]);
	memcpy(r->name, f[0], nl + 1);
	int m = 0;
	while (m < NMETRIC && strcmp(metric_names[m], f[1]))
		m++;
	if (m == NMETRIC) {
		fail(err, errlen, origin, line, "unknown metric '%s' (one of:", f[1]);
		for (m = 0; m < NMETRIC; m++)
			snprintf(err + strlen(err), errlen - strlen(err), " %s", metric_names[m]);
		snprintf(err + strlen(err), errlen - strlen(err), ")");
		return -1;
	}
	r->metric = (enum fr_metric)m;
	if (strcmp(f[2], ">") && strcmp(f[2], ">="))
		return fail(err, errlen, origin, line, "'%s' where '>' or '>=' goes: %s", f[2], want);
	r->or_equal = f[2][1] == '=';
	char kind;
	double v;
	if (parse_value(f[3], &r->threshold, &kind) < 0)
		return fail(err, errlen, origin, line, "bad threshold '%s' (a number, 5%%, 250ms)", f[3]);
	int rate = r->metric == FR_METRIC_ERROR_RATE || r->metric == FR_METRIC_DNS_FAILURES;
	if (rate && (kind == 't' || r->threshold > 1))
		return fail(err, errlen, origin, line, "%s is a share: the threshold is 0..1 or 0%%..100%%, not '%s'",
			    f[1], f[3]);
	if (r->metric == FR_METRIC_P99_LATENCY && kind != 't')
		return fail(err, errlen, origin, line, "p99_latency wants a duration (250ms, 1.5s), not '%s'", f[3]);
	if (!rate && r->metric != FR_METRIC_P99_LATENCY && kind)
		return fail(err, errlen, origin, line, "%s is a count: the threshold is a number, not '%s'", f[1], f[3]);
	if (parse_value(f[4], &v, &kind) < 0 || kind != 't' || v < 1e6 || v > 86400e9)
		return fail(err, errlen, origin, line, "bad window '%s' (a duration from 1ms to 24h: 30s, 1m)", f[4]);
	r->window_ns = (int64_t)v;
	char *end;
	errno = 0;
	long long mc = strtoll(f[5], &end, 10);
	if (*end || end == f[5] || errno || mc < 0)
		return fail(err, errlen, origin, line, "bad minimum count '%s' (a whole number)", f[5]);
	r->min_count = mc;
	if (strcmp(f[6], "critical") && strcmp(f[6], "warning") && strcmp(f[6], "info"))
		return fail(err, errlen, origin, line, "bad severity '%s' (critical, warning or info)", f[6]);
	snprintf(r->severity, sizeof(r->severity), "%s", f[6]);
	return 0;
}

int fr_rules_parse(const char *text, const char *origin, struct fr_rules *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	int line = 0, cap = 0;
	for (const char *p = text; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char buf[1024], *f[8];
		int nf = 0;
		line++;
		if (len >= sizeof(buf)) {
			fr_rules_fini(out);
			return fail(err, errlen, origin, line, "line longer than %zu bytes", sizeof(buf) - 1);
		}
		memcpy(buf, p, len);
		buf[len] = 0;
		p += len + (e != NULL);
		char *hash = strchr(buf, '#');
		if (hash)
			*hash = 0;
		for (char *s = strtok(buf, " \t\r"); s; s = strtok(NULL, " \t\r")) {
			if (nf < 8 && s[0] == '>' && s[1] && s[1] != '=') { /* ">5%" */
				f[nf++] = ">";
				s++;
			} else if (nf < 8 && !strncmp(s, ">=", 2) && s[2]) {
				f[nf++] = ">=";
				s += 2;
			}
			if (nf < 8)
				f[nf++] = s;
			else
				nf++;
		}
		if (!nf)
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 8;
			struct fr_rule *v = realloc(out->v, (size_t)cap * sizeof(*v));
			if (!v) {
				fr_rules_fini(out);
				return fail(err, errlen, origin, line, "out of memory");
			}
			out->v = v;
		}
		if (parse_rule(f, nf > 8 ? 8 : nf, &out->v[out->n], origin, line, err, errlen) < 0) {
			fr_rules_fini(out);
			return -1;
		}
		for (int i = 0; i < out->n; i++)
			if (!strcmp(out->v[i].name, out->v[out->n].name)) {
				fr_rules_fini(out);
				return fail(err, errlen, origin, line, "a second rule named '%s'", f[0]);
			}
		out->n++;
	}
	return 0;
}

int fr_rules_load(const char *path, struct fr_rules *out, char *err, size_t errlen)
{
	if (!path)
		return fr_rules_parse(fr_default_rules, "(default rules)", out, err, errlen);
	memset(out, 0, sizeof(*out));
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot open the rules file %s: %s", path, strerror(errno));
		return -1;
	}
	size_t n = 0, cap = 4096;
	char *text = malloc(cap);
	while (text) {
		n += fread(text + n, 1, cap - n - 1, f);
		if (n < cap - 1)
			break;
		char *t = cap > (1u << 24) ? NULL : realloc(text, cap * 2);
		if (!t)
			free(text);
		text = t, cap *= 2;
	}
	int bad = ferror(f);
	fclose(f);
	if (!text || bad) {
		snprintf(err, errlen, "cannot read the rules file %s%s", path, text ? "" : " (over 16 MiB?)");
		free(text);
		return -1;
	}
	text[n] = 0;
	if (strlen(text) != n) {
		free(text);
		snprintf(err, errlen, "%s: not a text file (a NUL byte)", path);
		return -1;
	}
	int rc = fr_rules_parse(text, path, out, err, errlen);
	free(text);
	return rc;
}

void fr_rules_fini(struct fr_rules *r)
{
	free(r->v);
	r->v = NULL;
	r->n = 0;
}
