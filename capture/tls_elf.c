/* tls_elf.c - what capture/tls.c needs to know of an executable file to
 * attach the TLS uprobes of bpf/hooks_tls.h to it: its symbols (OpenSSL
 * linked statically, Go's crypto/tls), the file offsets of a function and
 * of its RET instructions (Go: no uretprobes), the version strings.
 *
 * Symbols are read with libelf (.symtab, then .dynsym); the RET
 * instructions are found with the capstone disassembler (x86-64 has
 * variable-length instructions: a byte scan for 0xc3 finds operands too). */
#define _GNU_SOURCE
#include "tls_elf.h"

#include <capstone/capstone.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int tls_elf_open(struct tls_elf *e, const char *path)
{
	memset(e, 0, sizeof(*e));
	e->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0)
		return -1;
	if (elf_version(EV_CURRENT) == EV_NONE || !(e->elf = elf_begin(e->fd, ELF_C_READ_MMAP, NULL)) ||
	    elf_kind(e->elf) != ELF_K_ELF || gelf_getclass(e->elf) != ELFCLASS64) {
		tls_elf_close(e);
		return -1;
	}
	GElf_Ehdr eh;
	if (!gelf_getehdr(e->elf, &eh) || eh.e_machine != EM_X86_64) {
		tls_elf_close(e);
		return -1;
	}
	e->exec = eh.e_type == ET_EXEC;
	return 0;
}

void tls_elf_close(struct tls_elf *e)
{
	if (e->elf)
		elf_end(e->elf);
	if (e->fd >= 0)
		close(e->fd);
	e->elf = NULL;
	e->fd = -1;
}

/* The file offset of virtual address va (in a PT_LOAD segment), or 0. */
static uint64_t va_to_off(Elf *elf, uint64_t va)
{
	size_t n;
	if (elf_getphdrnum(elf, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && va >= ph.p_vaddr &&
		    va < ph.p_vaddr + ph.p_filesz)
			return va - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

int tls_elf_find(struct tls_elf *e, const char *const *names, int n, struct tls_sym *out)
{
	for (int i = 0; i < n; i++)
		memset(&out[i], 0, sizeof(out[i]));
	int found = 0;
	static const Elf64_Word types[] = {SHT_SYMTAB, SHT_DYNSYM};
	for (int t = 0; t < 2 && found < n; t++) {
		Elf_Scn *scn = NULL;
		while ((scn = elf_nextscn(e->elf, scn))) {
			GElf_Shdr sh;
			if (!gelf_getshdr(scn, &sh) || sh.sh_type != types[t] || !sh.sh_entsize)
				continue;
			Elf_Data *d = elf_getdata(scn, NULL);
			size_t count = sh.sh_size / sh.sh_entsize;
			for (size_t k = 0; d && k < count; k++) {
				GElf_Sym s;
				if (!gelf_getsym(d, (int)k, &s) || s.st_shndx == SHN_UNDEF || !s.st_value)
					continue;
				const char *name = elf_strptr(e->elf, sh.sh_link, s.st_name);
				if (!name)
					continue;
				for (int i = 0; i < n; i++) {
					if (out[i].va || strcmp(name, names[i]))
						continue;
					out[i].va = s.st_value;
					out[i].size = s.st_size;
					out[i].off = va_to_off(e->elf, s.st_value);
					out[i].func = GELF_ST_TYPE(s.st_info) == STT_FUNC;
					found++;
				}
			}
		}
	}
	return found;
}

/* The section called name, or NULL; *sh its header. */
static Elf_Scn *find_section(struct tls_elf *e, const char *name, GElf_Shdr *sh)
{
	size_t shstr;
	Elf_Scn *scn = NULL;
	if (elf_getshdrstrndx(e->elf, &shstr))
		return NULL;
	while ((scn = elf_nextscn(e->elf, scn))) {
		const char *n;
		if (gelf_getshdr(scn, sh) && (n = elf_strptr(e->elf, shstr, sh->sh_name)) && !strcmp(n, name))
			return scn;
	}
	return NULL;
}

static uint64_t rd(const uint8_t *p, int size)
{
	uint64_t v = 0;
	memcpy(&v, p, (size_t)size); /* little-endian x86-64 */
	return v;
}

int tls_elf_go_funcs(struct tls_elf *e, const char *const *names, int n, struct tls_sym *out)
{
	GElf_Shdr sh, text;
	Elf_Scn *scn = find_section(e, ".gopclntab", &sh);
	Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;
	if (!d || !d->d_buf || d->d_size < 8 + 8 * 8)
		return -1;
	const uint8_t *b = d->d_buf;
	size_t size = d->d_size;
	uint32_t magic = (uint32_t)rd(b, 4);
	if ((magic != 0xfffffff0 && magic != 0xfffffff1) || b[7] != 8)
		return -1; /* Go 1.18+ on a 64-bit target only */
	uint64_t nfunc = rd(b + 8, 8), textstart = rd(b + 24, 8), nameoff = rd(b + 32, 8), clnoff = rd(b + 64, 8);
	if (!textstart && find_section(e, ".text", &text))
		textstart = text.sh_addr; /* position-independent: filled by a relocation */
	if (nameoff >= size || clnoff >= size || nfunc > (size - clnoff) / 8 - 1)
		return -1;
	int found = 0;
	for (int i = 0; i < n; i++)
		memset(&out[i], 0, sizeof(out[i]));
	const uint8_t *ftab = b + clnoff;
	for (uint64_t f = 0; f < nfunc && found < n; f++) {
		uint32_t entry = (uint32_t)rd(ftab + 8 * f, 4), funcoff = (uint32_t)rd(ftab + 8 * f + 4, 4);
		uint32_t next = (uint32_t)rd(ftab + 8 * (f + 1), 4);
		if (clnoff + funcoff + 8 > size)
			continue;
		uint32_t noff = (uint32_t)rd(ftab + funcoff + 4, 4);
		if (nameoff + noff >= size)
			continue;
		const char *name = (const char *)b + nameoff + noff;
		size_t left = size - nameoff - noff;
		for (int i = 0; i < n; i++) {
			size_t len = strlen(names[i]);
			if (out[i].va || len >= left || memcmp(name, names[i], len + 1))
				continue;
			out[i].va = textstart + entry;
			out[i].size = next > entry ? next - entry : 0;
			out[i].off = va_to_off(e->elf, out[i].va);
			out[i].func = 1;
			found++;
		}
	}
	return found;
}

int tls_elf_rets(struct tls_elf *e, const struct tls_sym *f, uint64_t *offs, int max)
{
	if (!f->off || !f->size || f->size > (1 << 20))
		return -1;
	uint8_t *code = malloc(f->size);
	if (!code)
		return -1;
	int n = -1;
	csh cs;
	if (pread(e->fd, code, f->size, (off_t)f->off) != (ssize_t)f->size ||
	    cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		free(code);
		return -1;
	}
	cs_insn *insn = cs_malloc(cs);
	const uint8_t *p = code;
	size_t left = f->size;
	uint64_t addr = f->off;
	n = 0;
	while (insn && left && cs_disasm_iter(cs, &p, &left, &addr, insn)) {
		if (insn->id != X86_INS_RET)
			continue;
		if (n == max) {
			n = -1;
			break;
		}
		offs[n++] = insn->address;
	}
	if (n >= 0 && left)
		n = -1; /* undecodable bytes: the returns after them are unknown */
	if (insn)
		cs_free(insn, 1);
	cs_close(&cs);
	free(code);
	return n;
}

int tls_elf_go_version(struct tls_elf *e, char *out, size_t size)
{
	GElf_Shdr sh;
	if (!find_section(e, ".go.buildinfo", &sh))
		return -1;
	/* Go 1.18+: "\xff Go buildinf:", pointer size, flags (2: strings
	 * inline), padding to 32, then the version as a uvarint length and
	 * its bytes */
	uint8_t b[64];
	if (sh.sh_size < sizeof(b) || pread(e->fd, b, sizeof(b), (off_t)sh.sh_offset) != sizeof(b) ||
	    memcmp(b, "\xff Go buildinf:", 14) || !(b[15] & 2) || b[32] >= 32 || b[32] == 0)
		return -1;
	snprintf(out, size, "Go %.*s", b[32], (const char *)b + 33);
	return 0;
}

/* 1 if p starts "x.y.z" (digits; not "OpenSSL 3.0 legacy provider"). */
static int dotted(const char *p, const char *end)
{
	for (int part = 0; part < 3; part++) {
		if (p >= end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (part < 2 && (p >= end || *p++ != '.'))
			return 0;
	}
	return 1;
}

/* 1 if the NUL-terminated string at p (within end) is a bare OpenSSL
 * version, "1.1.1w" or "3.0.19" (OPENSSL_VERSION_STR, which the providers
 * of a statically linked OpenSSL 3 keep when "OpenSSL 3.0.19 27 Jan 2026"
 * itself is not linked in). */
static int bare_version(const char *p, const char *end)
{
	if (p + 6 >= end || (p[0] != '1' && p[0] != '3') || p[1] != '.')
		return 0;
	const char *q = p + 2;
	int dots = 0, digits = 0;
	for (; q < end && *q; q++) {
		if (*q >= '0' && *q <= '9')
			digits++;
		else if (*q == '.' && digits)
			dots++, digits = 0;
		else if (!(*q >= 'a' && *q <= 'z' && digits && q + 1 < end && !q[1]))
			return 0;
	}
	return q < end && dots == 1 && digits && q - p <= 8;
}

int tls_elf_openssl_version(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = -1;
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			const char *end = (const char *)m + st.st_size;
			for (const char *p = m; (p = memmem(p, (size_t)(end - p), "OpenSSL ", 8)); p += 8) {
				if (dotted(p + 8, end)) {
					size_t n = strnlen(p, (size_t)(end - p));
					snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
					rc = 0;
					break;
				}
			}
			for (const char *p = m; rc && p < end; p++) {
				if ((p == m || !p[-1]) && bare_version(p, end)) {
					snprintf(out, size, "OpenSSL %s", p);
					rc = 0;
				}
			}
			munmap(m, (size_t)st.st_size);
		}
	}
	close(fd);
	return rc;
}
