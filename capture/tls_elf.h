/* tls_elf.h - ELF symbols, RET offsets and version strings of the files
 * capture/tls.c attaches the TLS uprobes to (capture/tls_elf.c); internal
 * to capture/. */
#ifndef FLIGHTREC_TLS_ELF_H
#define FLIGHTREC_TLS_ELF_H

#include <libelf.h>
#include <stddef.h>
#include <stdint.h>

struct tls_elf {
	int fd;
	Elf *elf;
	int exec; /* ET_EXEC: loaded at its link addresses (no PIE) */
};

struct tls_sym {
	uint64_t va;   /* st_value; 0: not found (or undefined) */
	uint64_t size; /* st_size */
	uint64_t off;  /* the file offset of va; 0 if in no PT_LOAD segment */
	int func;      /* STT_FUNC */
};

/* Opens the x86-64 ELF file at path: 0, or -1 (not one, or unreadable).
 * tls_elf_close releases it (also after a failed open). */
int tls_elf_open(struct tls_elf *e, const char *path);
void tls_elf_close(struct tls_elf *e);

/* Looks up the n defined symbols names[] (.symtab first, then .dynsym)
 * into out[] (zeroed when absent); returns how many were found. */
int tls_elf_find(struct tls_elf *e, const char *const *names, int n, struct tls_sym *out);

/* Looks up the n functions names[] in the Go 1.18+ function table
 * (.gopclntab, kept by programs stripped of their symbols: go build
 * -ldflags=-s) into out[] (zeroed when absent); returns how many were
 * found, or -1 when the file has no such table. */
int tls_elf_go_funcs(struct tls_elf *e, const char *const *names, int n, struct tls_sym *out);

/* The file offsets of the RET instructions of function f, disassembled,
 * into offs[] (at most max); returns their count, or -1 when the function
 * cannot be read or decoded to its end, or has more than max. */
int tls_elf_rets(struct tls_elf *e, const struct tls_sym *f, uint64_t *offs, int max);

/* "Go go1.x.y" from the .go.buildinfo section (Go 1.18+): 0, or -1. */
int tls_elf_go_version(struct tls_elf *e, char *out, size_t size);

/* The first "OpenSSL x.y.z ..." string of the file at path, else "OpenSSL"
 * and its first bare "x.y.z" string (x 1 or 3), into out: 0, or -1. */
int tls_elf_openssl_version(const char *path, char *out, size_t size);

#endif
