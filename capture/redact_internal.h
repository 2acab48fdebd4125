/* redact_internal.h - the redaction machines of redact_wire.c, for
 * redact.c (which runs them over each chunk; see redact.h). */
#ifndef FLIGHTREC_REDACT_INTERNAL_H
#define FLIGHTREC_REDACT_INTERNAL_H

#include "redact.h"

/* fr_redact_state.k_mode */
enum { K_OFF = 0, K_HDR, K_BODY, K_DONE };

/* Each overwrites what it finds in w[0..n) (w NULL: only counts) while
 * reading p[0..n), continuing from *st; returns the bytes overwritten. */
size_t fr_redact_url_pass(struct fr_redact_state *st, const uint8_t *p, uint8_t *w, size_t n);
size_t fr_redact_kafka_pass(struct fr_redact_state *st, const uint8_t *p, uint8_t *w, size_t n);

#endif
