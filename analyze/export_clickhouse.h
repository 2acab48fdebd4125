/* export_clickhouse.h - what the two files of `flightrec export-clickhouse`
 * share: the exporter (export_clickhouse.c loads the tables) and the views
 * and cross-node links made after a load (clickhouse_views.c). */
#ifndef FLIGHTREC_EXPORT_CLICKHOUSE_H
#define FLIGHTREC_EXPORT_CLICKHOUSE_H

#include "../formats/clickhouse.h"

#include <stddef.h>

#define MAX_SHARDS 16

struct exporter {
	struct ch shard[MAX_SHARDS];
	int nshard;
	const char *database, *cluster, *incident;
	long batch;
	int retries, quiet;
};

/* Writes s as a ClickHouse string literal (quotes and backslashes escaped)
 * into dst, cut to fit len. */
void exp_quote(char *dst, size_t len, const char *s);
/* Runs sql on every shard (DDL): 0, or -1 after a message. */
int exp_on_shards(struct exporter *e, const char *sql);
/* Stores the cross-node links the loads made possible and (re)creates the
 * views on every shard: 0, or -1 after a message. */
int exp_create_views(struct exporter *e);

#endif
