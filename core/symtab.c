/*
 * Symbols for the thread dump (core/traceback.c): an ELF reader of gmp's
 * own, since a dump runs in signal handlers and on any stack.  libunwind's
 * unw_get_proc_name opens files, mallocs and locks; this maps each module's
 * file once with raw system calls and scans its .symtab (else .dynsym).
 * Remaining risk: dl_iterate_phdr takes ld.so's module-list lock, so a
 * thread that faults inside dlopen cannot be symbolized.
 */
#include "dump.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/*
 * A module's symbol table: the file mapped read-only once (never unmapped;
 * costs address space only) and its .symtab, else .dynsym.  Protected by
 * the dump lock.  The main program is /proc/self/exe.
 */
#define NSYMMOD 64
struct symmod {
	uintptr_t base; /* load bias (dlpi_addr) */
	const Elf64_Sym *syms;
	size_t nsyms;
	const char *strs;
	size_t strsz;
};
static struct symmod symmods[NSYMMOD];
static int nsymmods;

static void symmod_parse(struct symmod *s, const char *map, size_t len)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff == 0 ||
	    eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > len)
		return;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(const void *)(map + eh->e_shoff);
	const uint32_t kinds[2] = {SHT_SYMTAB, SHT_DYNSYM};
	for (int k = 0; k < 2; k++) {
		for (unsigned i = 0; i < eh->e_shnum; i++) {
			const Elf64_Shdr *t = &sh[i];
			if (t->sh_type != kinds[k] || t->sh_link >= eh->e_shnum || t->sh_offset + t->sh_size > len)
				continue;
			const Elf64_Shdr *str = &sh[t->sh_link];
			if (str->sh_offset + str->sh_size > len)
				continue;
			s->syms = (const Elf64_Sym *)(const void *)(map + t->sh_offset);
			s->nsyms = t->sh_size / sizeof(Elf64_Sym);
			s->strs = map + str->sh_offset;
			s->strsz = str->sh_size;
			return;
		}
	}
}

static struct symmod *symmod_get(uintptr_t base, const char *path)
{
	for (int i = 0; i < nsymmods; i++)
		if (symmods[i].base == base)
			return &symmods[i];
	if (nsymmods == NSYMMOD)
		return NULL;
	struct symmod *s = &symmods[nsymmods];
	memset(s, 0, sizeof *s);
	s->base = base;
	int fd = (int)gmp_sys4(SYS_openat, AT_FDCWD, path && *path ? path : "/proc/self/exe", O_RDONLY | O_CLOEXEC, 0);
	if (fd >= 0) {
		struct stat st;
		if (gmp_sys2(SYS_fstat, fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)sizeof(Elf64_Ehdr)) {
			long map = gmp_sys6(SYS_mmap, 0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
			if ((unsigned long)map < -4096UL) {
				symmod_parse(s, (const char *)map, (size_t)st.st_size);
				if (!s->syms)
					gmp_sys2(SYS_munmap, map, st.st_size);
			}
		}
		gmp_sys1(SYS_close, fd);
	}
	nsymmods++;
	return s;
}

struct findmod {
	uintptr_t ip, base;
	const char *name;
	bool found;
};

static int findmod_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct findmod *f = arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && f->ip >= lo && f->ip < lo + ph->p_memsz) {
			f->base = info->dlpi_addr;
			f->name = info->dlpi_name;
			f->found = true;
			return 1;
		}
	}
	return 0;
}

/*
 * The function containing addr: its name and start.  A function whose size
 * covers addr wins over the nearest unsized one.  Without a symbol, the
 * module's file name and load bias, if addr is in one.  Dump lock held.
 */
static int symbolize(uintptr_t addr, char *name, size_t len, uintptr_t *start)
{
	struct findmod f = {.ip = addr};
	dl_iterate_phdr(findmod_cb, &f);
	if (!f.found)
		return 0;
	struct symmod *s = symmod_get(f.base, f.name);
	const Elf64_Sym *sized = NULL, *near = NULL;
	uintptr_t v = addr - f.base;
	for (size_t i = 0; s && s->syms && i < s->nsyms; i++) {
		const Elf64_Sym *y = &s->syms[i];
		int t = ELF64_ST_TYPE(y->st_info);
		if ((t != STT_FUNC && t != STT_GNU_IFUNC) || y->st_shndx == SHN_UNDEF || y->st_value > v)
			continue;
		if (y->st_size && v < y->st_value + y->st_size) {
			if (!sized || y->st_value > sized->st_value)
				sized = y;
		} else if (!y->st_size && (!near || y->st_value > near->st_value)) {
			near = y;
		}
	}
	const Elf64_Sym *b = sized ? sized : near;
	if (b && b->st_name >= s->strsz)
		b = NULL;
	const char *n;
	size_t max;
	if (b) {
		n = s->strs + b->st_name;
		max = s->strsz - b->st_name;
		*start = f.base + b->st_value;
	} else {
		const char *slash = f.name && *f.name ? strrchr(f.name, '/') : NULL;
		n = slash ? slash + 1 : f.name && *f.name ? f.name : "exe";
		max = len;
		*start = f.base;
	}
	size_t i = 0;
	while (i + 1 < len && i < max && n[i]) {
		name[i] = n[i];
		i++;
	}
	name[i] = 0;
	return b ? 1 : 2;
}

/*
 * Recent answers of symbolize, direct-mapped by address: the frames of
 * parked threads repeat (gmp_park, futex_wait, ...), and a lookup is a
 * linear scan of a symbol table.  Dump lock.  Stale after a dlclose that
 * maps other code at the same address; names are then wrong, not unsafe.
 */
#define SYMCACHE 512
static struct {
	uintptr_t addr, start;
	int r;
	char name[72];
} symcache[SYMCACHE];

static int symbolize_cached(uintptr_t addr, char *name, size_t len, uintptr_t *start)
{
	size_t h = (addr ^ (addr >> 9)) % SYMCACHE;
	if (symcache[h].addr != addr) {
		symcache[h].r = symbolize(addr, symcache[h].name, sizeof symcache[h].name, &symcache[h].start);
		symcache[h].addr = addr;
	}
	snprintf(name, len, "%s", symcache[h].name);
	*start = symcache[h].start;
	return symcache[h].r;
}

/* dump.h */
void gmp_symstr(uintptr_t addr, uintptr_t lookup, bool syms, char *buf, size_t len)
{
	char name[128];
	uintptr_t start = 0;
	int r = syms && addr ? symbolize_cached(lookup, name, sizeof name, &start) : 0;
	if (r == 1)
		snprintf(buf, len, "%s+0x%lx", name, (unsigned long)(addr - start));
	else if (r == 2)
		snprintf(buf, len, "?(%s+0x%lx)", name, (unsigned long)(addr - start));
	else
		snprintf(buf, len, "?");
}
