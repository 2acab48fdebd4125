/* schema.h - the database the sink creates (schema.c): SQL run by sink.c
 * before and after the load.  The views are part of it: the analysis
 * creates them, and `flightrec dump` checks a database's requests view
 * against fr_views_sql.  reports/ only reads what these create. */
#ifndef FLIGHTREC_SCHEMA_H
#define FLIGHTREC_SCHEMA_H

extern const char fr_schema_sql[];          /* tables, before the load */
extern const char fr_attr_sql[];            /* attribution of connections: after the load */
extern const char fr_peer_addrs_scan_sql[]; /* temp.peer_addrs from a scan */
extern const char fr_post_sql[];            /* peer links, indexes: last */
extern const char fr_late_index_sql[];      /* indexes nothing in the analysis reads */
extern const char fr_views_sql[];           /* views */

#endif
