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

void gmp_dump_gs(int fd)
{
	int64_t now = gmp_nanotime();
	gmp_printf("gmp: %u Ps, %d Ms, %d live threads\n", gmp_sched.nprocs, gmp_sched.nmtotal,
		   atomic_load(&gmp_sched.ngalive));
	/* allg is push-only: walking it without the lock is safe (and a dump must not block). */
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->alllink) {
		uint32_t st = atomic_load(&g->status);
		if (st == G_IDLE || st == G_DEAD)
			continue;
		char line[256];
		int n = snprintf(line, sizeof line, "goroutine %llu [%s", (unsigned long long)g->goid,
				 gmp_gstatus_name(st));
		if (st == G_WAITING && g->waitreason == WR_NETPOLL && g->npfd)
			n += snprintf(line + n, sizeof line - (size_t)n, ", netpoll fd %d %s, %lld ms", g->npfd - 1,
				      g->npmode ? "write" : "read", (long long)((now - g->waitsince) / 1000000));
		else if (st == G_WAITING)
			n += snprintf(line + n, sizeof line - (size_t)n, ", %s, %lld ms",
				      gmp_waitreason_name(g->waitreason),
				      (long long)((now - g->waitsince) / 1000000));
		snprintf(line + n, sizeof line - (size_t)n, "]%s%s created by %llu\n", g->name[0] ? " " : "",
			 g->name, (unsigned long long)g->createdby);
		gmp_printf("%s", line);
	}
	(void)fd;
}

_Noreturn void gmp_fatal(const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	gmp_printf("gmp: fatal: %s\n", msg);
	gmp_dump_gs(2);
	abort();
}
