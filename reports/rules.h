/* rules.h - alert rules (rules.c): the parser of a rules file (the
 * format is described at the top of reports/rules.conf, compiled in as
 * the default) and their evaluation over an analysis database into its
 * `alerts` table.  The parser stands alone, for `flightrec watch`. */
#ifndef FLIGHTREC_RULES_H
#define FLIGHTREC_RULES_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

enum fr_metric {
	FR_METRIC_ERROR_RATE,   /* failed / requests, per server workload and endpoint */
	FR_METRIC_P99_LATENCY,  /* ns, per server workload and endpoint */
	FR_METRIC_DNS_FAILURES, /* failed / queries, per DNS name */
	FR_METRIC_CONN_RESETS,  /* TCP resets, per server workload */
	FR_METRIC_RETRANSMITS,  /* TCP retransmits, per client -> server workload */
	FR_METRIC_LOSSES,       /* events lost by the kernel, per node */
};

struct fr_rule {
	char name[64];
	enum fr_metric metric;
	int or_equal;      /* ">=": fires at the threshold too */
	double threshold;  /* a share (0..1), ns, or a count, by metric */
	int64_t window_ns; /* > 0 */
	int64_t min_count; /* requests (queries, events) a window needs */
	char severity[16]; /* "critical", "warning" or "info" */
};

struct fr_rules {
	struct fr_rule *v;
	int n;
};

/* The metric's name in a rules file ("error_rate"). */
const char *fr_metric_name(enum fr_metric m);

/* Parses a rules file's text (NUL-terminated); origin names it in error
 * messages.  Returns 0 and fills *out (free with fr_rules_fini), or -1
 * with a message "origin:LINE: what is wrong" in err and *out empty. */
int fr_rules_parse(const char *text, const char *origin, struct fr_rules *out, char *err, size_t errlen);

/* Reads and parses the file at path, or the compiled-in default rules
 * (reports/rules.conf) when path is NULL.  Returns as fr_rules_parse. */
int fr_rules_load(const char *path, struct fr_rules *out, char *err, size_t errlen);

/* Frees what fr_rules_parse filled; leaves r empty.  Accepts an empty r. */
void fr_rules_fini(struct fr_rules *r);

/* The table fr_rules_evaluate fills (wall-clock columns: ISO 8601, UTC). */
#define FR_ALERTS_SQL                                                                      \
	"CREATE TABLE IF NOT EXISTS alerts (rule TEXT, severity TEXT, subject TEXT, value REAL," \
	" threshold REAL, start_ns INTEGER, end_ns INTEGER, detail TEXT, start_at TEXT, end_at TEXT)"

/* Evaluates every rule over the analysis database db (opened read-write)
 * and replaces the rows of its `alerts` table (created if missing) with
 * one row per firing rule, subject and run of consecutive firing windows,
 * in one transaction.  Rules whose data the database lacks are skipped
 * and named in notes ("" when none; notes may be NULL).  Returns the
 * number of alerts, or -1 with a message in err (the table unchanged). */
long fr_rules_evaluate(const struct fr_rules *r, sqlite3 *db, char *notes, size_t noteslen, char *err,
		       size_t errlen);

/* Loads the rules (path NULL: the default), opens the database at db_path
 * and evaluates them (fr_rules_evaluate).  Returns the number of alerts,
 * or -1 with a message in err. */
long fr_rules_apply(const char *path, const char *db_path, char *notes, size_t noteslen, char *err,
		    size_t errlen);

#endif
