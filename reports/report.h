/* report.h - what reports/ offers the flightrec program: commands that read
 * an analysis database (and nothing else). */
#ifndef FLIGHTREC_REPORT_H
#define FLIGHTREC_REPORT_H

/* `flightrec report DB`: the terminal summary.  argv[0] is "report".
 * Returns EXIT_OK or EXIT_USAGE (formats/cli.h). */
int cmd_report(int argc, char **argv);

/* `flightrec diff DB [--split TIME]`: what changed before and after the
 * snapshot trigger (reports/diff.c).  Returns EXIT_OK or EXIT_USAGE. */
int cmd_diff(int argc, char **argv);

#endif
