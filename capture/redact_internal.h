/* redact_internal.h - the redaction machines of redact_wire.c and
 * redact_sql.c, for redact.c (which runs them over each chunk; see
 * redact.h). */
#ifndef FLIGHTREC_REDACT_INTERNAL_H
#define FLIGHTREC_REDACT_INTERNAL_H

#include "redact.h"

static inline uint32_t be32_at(const uint8_t *h)
{
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* fr_redact_state.k_mode */
enum { K_OFF = 0, K_HDR, K_BODY, K_DONE };
/* fr_redact_state.q_mode (redact_sql.c) */
enum { Q_OFF = 0, Q_DETECT, Q_DETECT_PG, Q_DONE, Q_MY_HDR, Q_MY_BODY, Q_PG_HDR, Q_PG_BODY };

/* Each overwrites what it finds in w[0..n) (w NULL: only counts) while
 * reading p[0..n), continuing from *st; returns the bytes overwritten. */
size_t fr_redact_url_pass(struct fr_redact_state *st, const uint8_t *p, uint8_t *w, size_t n);
size_t fr_redact_kafka_pass(struct fr_redact_state *st, const uint8_t *p, uint8_t *w, size_t n);
size_t fr_redact_sql_pass(struct fr_redact_state *st, const uint8_t *p, uint8_t *w, size_t n);
/* fr_redact_gap for those two machines */
void fr_redact_kafka_gap(struct fr_redact_state *st, uint64_t n);
void fr_redact_sql_gap(struct fr_redact_state *st, uint64_t n);

#endif
