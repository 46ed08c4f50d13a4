/*
 * Which code an address is in: gmp, the vDSO, glibc, the dynamic loader,
 * or the program and its other libraries (runtime.h, enum gmp_code).
 * Cancellation (core/cancel.c) and preemption (core/preempt.c) stop or
 * unwind a G only in code of the program's own; xwait.c lets gmp's own
 * system calls through.
 */
#include "runtime.h"

#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>

/*
 * Executable ranges of the objects whose code a G must not be stopped or
 * unwound in (cancellation here, preemption in core/preempt.c): gmp
 * itself, the vDSO (the time, maybe for gmp), glibc (its internal locks
 * are futexes gmp does not see) and the dynamic loader.  Read once at
 * start-up; these are all loaded before the program runs.
 */
static struct { uintptr_t lo, hi; } code_range[CODE_LDSO + 1];
#define NPROG 64
static struct { uintptr_t lo, hi; } prog_range[NPROG]; /* the program's and other libraries' code */
static int nprog;

static bool named(const char *path, const char *base)
{
	const char *slash = strrchr(path, '/');
	return strncmp(slash ? slash + 1 : path, base, strlen(base)) == 0;
}

static int text_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	enum gmp_code kind = CODE_OTHER;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && ph->p_offset == 0 && vdso && info->dlpi_addr + ph->p_vaddr == vdso)
			kind = CODE_VDSO; /* its ELF header is the one the kernel mapped */
	}
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	if (kind == CODE_OTHER && (named(name, "libc.so.") || named(name, "libpthread.so.")))
		kind = CODE_LIBC; /* (glibc before 2.34 keeps its thread code in libpthread) */
	if (kind == CODE_OTHER && *name && info->dlpi_addr == (uintptr_t)getauxval(AT_BASE))
		kind = CODE_LDSO;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		enum gmp_code k = (uintptr_t)gmp_code_at >= lo && (uintptr_t)gmp_code_at < hi ? CODE_GMP : kind;
		if (k == CODE_OTHER) {
			if (nprog < NPROG) {
				prog_range[nprog].lo = lo;
				prog_range[nprog++].hi = hi;
			}
			continue;
		}
		if (!code_range[k].lo || lo < code_range[k].lo)
			code_range[k].lo = lo;
		if (hi > code_range[k].hi)
			code_range[k].hi = hi;
	}
	return 0;
}

enum gmp_code gmp_code_at(uintptr_t pc)
{
	/*
	 * While raw calls trap, gmp's own system calls run at a `syscall; ret`
	 * in glibc's code (core/rawtrap.c): a thread interrupted there is in
	 * gmp (an asynchronous cancellation or a preemption must wait).
	 */
	if (GMP_UNLIKELY(__atomic_load_n(&gmp_sys_via_glibc, __ATOMIC_RELAXED)) &&
	    pc - (uintptr_t)gmp_sys_gadget <= 2)
		return CODE_GMP;
	for (int k = CODE_GMP; k <= CODE_LDSO; k++)
		if (pc >= code_range[k].lo && pc < code_range[k].hi)
			return (enum gmp_code)k;
	for (int i = 0; i < nprog; i++)
		if (pc >= prog_range[i].lo && pc < prog_range[i].hi)
			return CODE_PROG;
	return CODE_OTHER;
}

void gmp_code_bounds(enum gmp_code k, uintptr_t *lo, uintptr_t *hi)
{
	*lo = code_range[k].lo;
	*hi = code_range[k].hi;
}

void gmp_codemap_init(void) { dl_iterate_phdr(text_cb, NULL); }
