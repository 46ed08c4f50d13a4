/*
 * O_NONBLOCK underneath and the program's own view of it (netpoll.h,
 * "Forced pipes"): pipes and listening sockets gmp keeps non-blocking,
 * given back before anything but gmp's read/write can reach them; the
 * O_NONBLOCK view fcntl and FIONBIO show; what a dup shares of its file
 * description; the facts of an fd the I/O paths read (a socket's kind,
 * SO_RCVLOWAT, a FIFO without RWF_NOWAIT).  forcelock orders all changes
 * of the view and of the flag underneath.
 */
#include "netpoll.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

_Atomic uint32_t gmp_fd_viewgen;

/* A forced fd's O_NONBLOCK view changed through one fd: all its dups see it (rare: a scan).  forcelock. */
static void set_forced_view(uint64_t ino, bool nonblock)
{
	FOR_EACH_REC(pd)
		if (pd->managed && pd->forced_nonblock && pd->ino == ino)
			pd->user_nonblock = nonblock;
}

bool gmp_fd_pipes_plain;
static _Atomic bool libs_scanned; /* gmp_fd_libs_changed has looked: pipes may be forced */
static _Atomic bool any_forced_pipe; /* one was made: the giving-back scans have work */
static gmp_lock_t forcelock = GMP_LOCK_RANKED(GMP_RANK_FORCE); /* orders giving back against fcntl/FIONBIO on forced pipes */

/*
 * A program linked with liburing may read or write a pipe through io_uring,
 * whose requests honour O_NONBLOCK (an EAGAIN completion where the kernel
 * would have waited), and liburing makes its system calls itself, so gmp
 * never sees them: no forced pipes in such a process.  Looked up in the
 * loaded objects at start-up and after every dlopen (not at pipe(), which
 * a signal handler may call while the loader's lock is held).
 */
static int uring_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	if (info->dlpi_name && strstr(info->dlpi_name, "/liburing"))
		*(bool *)arg = true;
	return 0;
}

void gmp_fd_libs_changed(void)
{
	bool uring = false;
	dl_iterate_phdr(uring_cb, &uring);
	if (uring && !gmp_fd_pipes_plain) {
		gmp_fd_pipes_plain = true;
		gmp_fd_unforce_all();
	}
	atomic_store(&libs_scanned, true);
}

int gmp_fd_force_pipe(int fd, int flags)
{
	static _Atomic uint64_t keys;
	struct gmp_pollfd *pd = gmp_fd_get(fd);
	if (!pd || gmp_fd_pipes_plain || !atomic_load(&libs_scanned))
		return -EINVAL;
	gmp_lock(&forcelock); /* not across a fork's giving back (gmp_fd_fork_prepare) */
	atomic_store(&any_forced_pipe, true);
	pd->ino = GMP_FD_PIPEKEY(atomic_fetch_add(&keys, 1));
	pd->pipe = true;
	pd->user_nonblock = false;
	atomic_store(&pd->forced_nonblock, true);
	long r = gmp_sys3(SYS_fcntl, fd, F_SETFL, (flags & O_DIRECT) | O_NONBLOCK);
	if (r != 0)
		atomic_store(&pd->forced_nonblock, false);
	gmp_unlock(&forcelock);
	return (int)r;
}

/* Wait until no G call relying on pd's O_NONBLOCK is in the kernel (each is short: the flag makes it so). */
static void drain_inflight(struct gmp_pollfd *pd)
{
	/*
	 * Bounded: an M may keep naming it while a signal handler that
	 * interrupted the call parks.  Giving up only risks that call, if it had
	 * not reached the kernel yet, blocking there once without hand-off.
	 */
	int spins = 0;
	for (struct gmp_m *m = atomic_load(&gmp_sched.allm); m; m = m->alllink)
		while (atomic_load(&m->nbpd) == pd && spins++ < 10000)
			gmp_sys0(SYS_sched_yield);
}

/* Give back forced pipe ends: all (key 0) or one file description's; forcelock held, or taken in vain. */
static void unforce_scan(uint64_t key)
{
	FOR_EACH_REC(pd) {
		if (!pd->pipe || !atomic_load(&pd->forced_nonblock) || (key && pd->ino != key))
			continue;
		gmp_lock(&pd->lock); /* a close (gmp_fd_close first) cannot free the fd number meanwhile */
		if (pd->managed && pd->pipe && atomic_load(&pd->forced_nonblock)) {
			atomic_store(&pd->forced_nonblock, false); /* seq_cst: pairs with gmp_fd_nbcall */
			drain_inflight(pd);
			long fl = gmp_sys2(SYS_fcntl, pd->fd, F_GETFL);
			if (fl >= 0 && !pd->user_nonblock)
				gmp_sys3(SYS_fcntl, pd->fd, F_SETFL, fl & ~O_NONBLOCK);
			pd->viewgen = atomic_load(&gmp_fd_viewgen); /* user_nonblock is the kernel's now */
		}
		gmp_unlock(&pd->lock);
	}
}

/*
 * forcelock, briefly: an exec or fork may come from a signal handler that
 * interrupted its holder.  Returns whether it was taken.
 */
static bool forcelock_take(void)
{
	for (int i = 0; i < 10000; i++) {
		if (gmp_trylock(&forcelock))
			return true;
		gmp_sys0(SYS_sched_yield);
	}
	return false;
}

static void unforce(uint64_t key)
{
	if (!atomic_load(&any_forced_pipe) || gmp_vforked()) /* vfork gave them all back before */
		return;
	bool held = forcelock_take();
	unforce_scan(key);
	if (held)
		gmp_unlock(&forcelock);
}

void gmp_fd_unforce(int fd)
{
	struct gmp_pollfd *pd = gmp_fd_get(fd);
	if (pd && pd->pipe && atomic_load(&pd->forced_nonblock))
		unforce(pd->ino);
}

void gmp_fd_unforce_all(void) { unforce(0); }

/* No pipe is forced between here and the fork: the child's exec would change it under us. */
void gmp_fd_fork_prepare(void)
{
	gmp_lock(&forcelock);
	if (atomic_load(&any_forced_pipe))
		unforce_scan(0);
}

void gmp_fd_forceunlock(void) { gmp_unlock(&forcelock); }

bool gmp_fd_nonblock(int fd, struct gmp_pollfd *pd)
{
	uint32_t gen = atomic_load_explicit(&gmp_fd_viewgen, memory_order_acquire);
	if (GMP_LIKELY(pd->viewgen == gen) || pd->forced_nonblock)
		return pd->user_nonblock;
	long fl = gmp_sys2(SYS_fcntl, fd, F_GETFL);
	if (fl >= 0)
		pd->user_nonblock = (fl & O_NONBLOCK) != 0;
	pd->viewgen = gen;
	return pd->user_nonblock;
}

/*
 * The program's own O_NONBLOCK view set through fd (fcntl F_SETFL with
 * arg, or FIONBIO with on, when fionbio): the kernel's flag follows it
 * unless gmp keeps O_NONBLOCK underneath (forced), where only the view
 * changes, for every dup of the file description.  forcelock: a forced
 * pipe given back meanwhile would keep our O_NONBLOCK.  0 or -errno.
 */
long gmp_fd_set_view(int fd, struct gmp_pollfd *pd, bool fionbio, long arg)
{
	gmp_lock(&forcelock);
	bool forced = atomic_load(&pd->forced_nonblock);
	long r = 0;
	if (fionbio) {
		pd->user_nonblock = *(int *)arg != 0;
		if (forced) {
			set_forced_view(pd->ino, pd->user_nonblock); /* stays non-blocking underneath */
		} else {
			r = gmp_sys3(SYS_ioctl, fd, FIONBIO, arg);
			pd->viewgen = atomic_fetch_add(&gmp_fd_viewgen, 1) + 1; /* dups reread */
		}
	} else {
		r = gmp_sys3(SYS_fcntl, fd, F_SETFL, forced ? arg | O_NONBLOCK : arg);
		if (r == 0) {
			pd->user_nonblock = (arg & O_NONBLOCK) != 0;
			pd->viewgen = atomic_fetch_add(&gmp_fd_viewgen, 1) + 1;
			if (forced)
				set_forced_view(pd->ino, pd->user_nonblock);
		}
	}
	gmp_unlock(&forcelock);
	return r;
}

/*
 * listen: accept has no per-call non-blocking flag, so a listening socket
 * is made O_NONBLOCK underneath (forced); fcntl and FIONBIO keep showing
 * the program's own view, for dups made before listen too.
 */
void gmp_fd_force_listener(int fd, struct gmp_pollfd *pd)
{
	gmp_lock(&forcelock);
	long fl;
	struct stat st;
	if (!pd->forced_nonblock && (fl = gmp_sys2(SYS_fcntl, fd, F_GETFL)) >= 0 && gmp_sys2(SYS_fstat, fd, &st) == 0 &&
	    gmp_sys3(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK) == 0) {
		pd->user_nonblock = (fl & O_NONBLOCK) != 0;
		pd->ino = st.st_ino;
		atomic_store(&pd->forced_nonblock, true);
		set_forced_view(pd->ino, pd->user_nonblock);
	}
	gmp_unlock(&forcelock);
}

/* What the I/O paths need to know of a socket (socket, accept, socketpair). */
void gmp_fd_set_socket(int fd, bool stream, bool tcp)
{
	struct gmp_pollfd *pd = gmp_fd_get(fd);
	if (!pd)
		return;
	gmp_lock(&pd->lock);
	pd->stream = stream;
	pd->tcp = tcp;
	gmp_unlock(&pd->lock);
}

/* SO_RCVLOWAT as the program set it: a blocking read waits for that many bytes (io.c). */
void gmp_fd_set_rcvlowat(struct gmp_pollfd *pd, int lowat)
{
	gmp_lock(&pd->lock);
	pd->rcvlowat = lowat;
	gmp_unlock(&pd->lock);
}

/* A named FIFO: RWF_NOWAIT is refused, so its blocking calls hand off (io.c). */
void gmp_fd_set_no_nowait(struct gmp_pollfd *pd)
{
	gmp_lock(&pd->lock);
	pd->no_nowait = true;
	gmp_unlock(&pd->lock);
}

/* newfd is a new fd for old's file description (dup, dup2, dup3, F_DUPFD): what old's record knows of it. */
void gmp_fd_copy_facts(int newfd, struct gmp_pollfd *old)
{
	struct gmp_pollfd *np = gmp_fd_get(newfd);
	if (!np || np == old)
		return;
	gmp_lock(&forcelock); /* the view and the forced flag: as fcntl changes them */
	gmp_lock(&np->lock);
	atomic_store(&np->forced_nonblock, atomic_load(&old->forced_nonblock));
	np->pipe = old->pipe;
	np->stream = old->stream;
	np->tcp = old->tcp;
	np->rcvlowat = old->rcvlowat;
	np->no_nowait = old->no_nowait;
	np->ino = old->ino;
	np->user_nonblock = old->user_nonblock;
	gmp_unlock(&np->lock);
	gmp_unlock(&forcelock);
}

/* fork child: a forcelock the forking thread did not hold is free (fork.c). */
void gmp_fd_force_fork_child(void) { gmp_lock_reset(&forcelock); }
