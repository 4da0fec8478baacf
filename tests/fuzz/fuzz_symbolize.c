/*
 * Fuzz target for the symboliser's ELF reader: any bytes taken as an ELF
 * file on disk (section table, symbol tables, string tables) must give a
 * name that is NUL-terminated within the caller's buffer, or none, and
 * never a read outside the input.  The first 8 bytes pick the address.
 * links: exporter/symbolize.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/symbolize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t vaddr = 0, off = 0;
	char name[32];
	uint8_t *img;

	if (size < 8)
		return 0;
	memcpy(&vaddr, data, 8);
	/* A buffer of exactly the image's size: reading past it is seen. */
	img = malloc(size - 8 ? size - 8 : 1);
	if (!img)
		return 0;
	memcpy(img, data + 8, size - 8);
	memset(name, 'x', sizeof(name));
	if (symbolize_elf_lookup(img, size - 8, vaddr, name, sizeof(name),
				 &off) == 0) {
		if (!memchr(name, '\0', sizeof(name)) || off > vaddr)
			abort();
	}
	free(img);
	return 0;
}
