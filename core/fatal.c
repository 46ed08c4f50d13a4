/*
 * Fatal errors and the thread dump.  Output goes straight to fd 2 with
 * write(2) through our raw system call, one buffer per line, so it never
 * interleaves mid-line with the program's own stderr writes and never
 * takes stdio's locks.
 */
#include "runtime.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

static const char *const wr_names[WR_NREASONS] = {
	"", "join", "mutex", "cond", "rwlock", "semaphore", "barrier", "futex", "once", "sleep", "yield", "netpoll", "syscall",
	"signal",
};

const char *gmp_waitreason_name(uint32_t w) { return w < WR_NREASONS ? wr_names[w] : "?"; }

static void vout(int fd, const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	for (int off = 0; off < n;) {
		long r = gmp_sys3(SYS_write, fd, buf + off, n - off);
		if (r <= 0)
			break;
		off += (int)r;
	}
}

void gmp_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vout(2, fmt, ap);
	va_end(ap);
}

_Noreturn void gmp_fatal(const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	gmp_printf("gmp: fatal: %s\n", msg);
	if (gmp_debug.traceback != 0) /* GMP_TRACEBACK=none: the message only */
		gmp_dump_gs(2);
	gmp_abort();
}
