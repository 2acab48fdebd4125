/* text.c - text and number helpers shared by the command lines (cli.h). */
#define _GNU_SOURCE
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void fr_json_str(FILE *f, const uint8_t *p, size_t n)
{
	putc('"', f);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		switch (c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (c < 0x20 || c >= 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				putc(c, f);
		}
	}
	putc('"', f);
}

void fr_escape(FILE *f, const uint8_t *p, size_t n, size_t max)
{
	size_t m = n < max ? n : max;
	for (size_t i = 0; i < m; i++) {
		uint8_t c = p[i];
		if (c == '\n')
			fputs("\\n", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\\')
			fputs("\\\\", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			putc(c, f);
	}
	if (m < n)
		fputs("...", f);
}

const char *fr_time_str(int64_t wall_ns, char *buf, size_t len)
{
	time_t s = (time_t)(wall_ns / 1000000000);
	long ns = (long)(wall_ns % 1000000000);
	if (ns < 0) {
		ns += 1000000000;
		s--;
	}
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t o = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + o, len - o, ".%09ldZ", ns);
	return buf;
}

int fr_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)*s))
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int fr_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)*s))
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

const char *fr_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/tmp";
}

int fr_input_file_ok(const char *path, char *err, size_t errlen)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	int rc = fstat(fd, &st);
	close(fd);
	if (rc < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_size == 0) {
		snprintf(err, errlen, "%s: empty file", path);
		return -1;
	}
	return 0;
}
