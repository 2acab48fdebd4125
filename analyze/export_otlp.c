/* export_otlp.c - `flightrec export-otlp DB -o FILE`: the command around
 * reports/otlp.c (every request as an OpenTelemetry span, OTLP/JSON), the
 * file written as every output of the analyzer (outfile.h). */
#include "../formats/cli.h"
#include "../reports/otlp.h"
#include "flightrec.h"
#include "../formats/outfile.h"

#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: flightrec export-otlp DB -o FILE\n"
		   "\n"
		   "Writes every request of the analysis database DB as an OpenTelemetry span in\n"
		   "the OTLP/JSON encoding, one TracesData object per line (JSON lines, as the\n"
		   "OpenTelemetry Collector's otlpjsonfile receiver reads them; '-o -' writes to\n"
		   "stdout).  A request recorded by its client is a CLIENT span, by its server a\n"
		   "SERVER span; when both ends were recorded they share a trace and the server\n"
		   "span is the client span's child.  Resources are the processes and pods that\n"
		   "recorded them (service.name, k8s.namespace.name, k8s.pod.name,\n"
		   "k8s.deployment.name, ...); span attributes follow the semantic conventions\n"
		   "(http.*, url.path, rpc.*, db.*, messaging.*, network.peer.address).  Ids are\n"
		   "derived from the recording: the same database gives the same file.\n"
		   "\n"
		   "  -o, --output FILE   the file to write (0600; replaced once complete)\n");
}

int cmd_export_otlp(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *out = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !out || !*out) {
		fprintf(stderr, "flightrec export-otlp: %s\n", !out || !*out ? "-o FILE is required" : "one DB");
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *path = argv[optind];
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "SELECT 1 FROM request_rows LIMIT 1", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec export-otlp: cannot read %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return EXIT_USAGE;
	}
	char err[512], *tmp = NULL;
	int fd = -1;
	FILE *f = stdout;
	if (strcmp(out, "-") && (!(tmp = fr_out_begin(out, &fd, err, sizeof(err))) || !(f = fdopen(fd, "w")))) {
		fprintf(stderr, "flightrec export-otlp: %s\n", tmp ? strerror(errno) : err);
		if (fd >= 0)
			close(fd);
		fr_out_abort(tmp);
		sqlite3_close(db);
		return EXIT_USAGE;
	}
	struct fr_otlp_stats st;
	int rc = fr_otlp_write(db, f, &st, err, sizeof(err)) < 0 ? EXIT_USAGE : EXIT_OK;
	sqlite3_close(db);
	if (rc != EXIT_OK)
		fprintf(stderr, "flightrec export-otlp: %s\n", err);
	if ((f != stdout ? fclose(f) : fflush(f)) != 0 && rc == EXIT_OK) {
		fprintf(stderr, "flightrec export-otlp: %s: %s\n", out, strerror(errno));
		rc = EXIT_USAGE;
	}
	if (tmp && rc != EXIT_OK)
		fr_out_abort(tmp);
	else if (tmp && fr_out_commit(tmp, out) < 0) {
		fprintf(stderr, "flightrec export-otlp: %s: %s\n", out, strerror(errno));
		rc = EXIT_USAGE;
	}
	if (rc == EXIT_OK)
		fprintf(stderr, "%s: %lld spans (%lld server spans linked to their client span) in %lld resource"
				" groups\n", out, st.spans, st.linked, st.resources);
	return rc;
}
