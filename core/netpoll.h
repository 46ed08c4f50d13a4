/*
 * The netpoller (docs/design.md §8): fds that can be polled park their G until
 * the kernel says they are ready.  OS backends (netpoll_epoll.c) provide the
 * gmp_netpoll_os_* functions; netpoll.c holds the fd table and the waiting.
 */
#ifndef GMP_CORE_NETPOLL_H
#define GMP_CORE_NETPOLL_H

#include "runtime.h"

/*
 * Per-fd record.  Created when the program creates a pollable fd (socket,
 * pipe, accept, eventfd, FIFO it opened, ...), which is then registered in
 * the poller.  Sockets are registered once, edge-triggered (edge): every
 * readiness change after a call got EAGAIN reaches the poller, which wakes
 * the parked G or, when none is parked yet, records it (rready, wready) for
 * the G about to park; no system call per wait.  It also counts them
 * (redges, wedges): a G whose call failed before an edge that went to
 * another G of its direction (two threads reading one socket; the other
 * woken, not yet run) retries instead of parking, for that G may take all
 * the edge made ready and no edge follows.  Other fds are armed
 * one-shot and level-triggered while a G is parked on them: a pipe's
 * RWF_NOWAIT call also fails when the pipe's lock is merely contended, and
 * no edge follows such an EAGAIN.  The fd's O_NONBLOCK flag stays what the
 * program set: a call the program makes blocking is done non-blocking per
 * call instead (RWF_NOWAIT, MSG_DONTWAIT), so glibc-internal users of the
 * same fd (stdio on an fdopen'ed pipe) see a normal blocking fd.
 * user_nonblock mirrors the program's view.  Listening sockets are
 * switched to O_NONBLOCK underneath (forced_nonblock; accept has no
 * per-call flag), and then fcntl and FIONBIO show the program's view.  An fd
 * the process inherited has no record: it keeps blocking, with hand-off.
 *
 * Pipes made by pipe()/pipe2() in this process are O_NONBLOCK underneath
 * too (pipe: forced pipes), while only gmp's shims can reach them: a
 * plain read or write then costs the kernel no iovec and never fails on a
 * merely contended pipe lock, as RWF_NOWAIT does (hackbench 0.77x ->
 * 0.9x).  Everything that lets the pipe out of the shims' reach gives it
 * back its blocking mode first (gmp_fd_unforce): fork, exec, a process
 * spawn, fdopen (stdio reads with glibc's internal read), a dup onto
 * stdin/stdout/stderr, passing it in SCM_RIGHTS, splice and its
 * relatives, the raw system calls that bypass the shims.  A process that
 * has liburing loaded (its own system calls, unseen) gets no forced pipes
 * (gmp_fd_libs_changed).  A G's call that
 * relies on the flag names the pipe in its M's nbpd around the system
 * call; gmp_fd_unforce clears forced_nonblock first and waits until no M
 * names it before it clears the kernel's flag, so no call relying on it
 * ever blocks in the kernel.  (A count in the record was a locked
 * instruction on a line that every thread using the pipe shares.)
 * GMP_PIPES=plain turns this off.
 */
/*
 * Who writes what.  The wait state (seq, managed, registered, in_set, fd,
 * edge, edge_out, rready/wready, rg/wg, rres/wres): under lock.  The facts
 * the I/O paths read without a lock (pipe, no_nowait, stream, tcp,
 * rcvlowat): under lock when the record is made, copied to a dup, or set
 * by the program (setsockopt).  The program's O_NONBLOCK view and gmp's
 * flag underneath (user_nonblock, viewgen, ino, forced_nonblock): under
 * forcelock (fcntl, FIONBIO, listen, a pipe forced or given back), and
 * lock too when the record is made; gmp_fd_nonblock alone refreshes the
 * cached view from the kernel's flag without either.  All of it is
 * written in core/netpoll.c.
 */
struct gmp_pollfd {
	gmp_lock_t lock;          /* the wait state; see above */
	uint32_t seq;             /* bumped on close: stale events are dropped */
	bool managed;             /* O_NONBLOCK is ours to keep; user_nonblock is the program's view */
	bool user_nonblock;
	_Atomic bool forced_nonblock; /* O_NONBLOCK set by gmp underneath (listening sockets, forced pipes) */
	bool pipe;                /* forced_nonblock on a pipe end: reads and writes are plain calls */
	bool no_nowait;           /* RWF_NOWAIT unsupported (named FIFOs): blocking calls hand off */
	uint32_t viewgen;         /* gmp_fd_viewgen when user_nonblock was last read from the kernel */
	uint64_t ino;             /* forced_nonblock: the socket's inode, or GMP_FD_PIPEKEY: shared by its dups */
	bool registered;          /* the poller takes it (edge fds: in its set for good) */
	bool in_set;              /* one-shot fds: in the set now (only while a G waits; netpoll_epoll.c) */
	int fd;                   /* the fd this record is for */
	bool edge;                /* registered edge-triggered for reading (sockets) */
	bool edge_out;            /* ... and for writing: added when a write first waits */
	bool stream;              /* a SOCK_STREAM socket: read/write are recv/send (no iovec to copy) */
	bool tcp;                 /* a TCP socket: a short read leaves it empty (drained reads, io.c) */
	int rcvlowat;             /* SO_RCVLOWAT as the program set it (stream sockets; 0 or 1: none) */
	_Atomic bool rsticky;     /* an edge said EOF, error or urgent data: reads are never skipped */
	_Atomic uint32_t redges;  /* read edges the poller took for this fd (edge fds) */
	_Atomic uint32_t wedges;  /* write edges */
	_Atomic uint32_t rdrained; /* redges + 1 when a read that began then left the socket empty; 0 unknown */
	bool rready, wready;      /* edge: an edge came while no G of that direction was parked */
	struct gmp_g *rg, *wg;    /* parked reader / writer */
	int rres, wres;           /* what the parked G is told: 0 ready, -EBADF closed, -ETIMEDOUT */
	_Atomic uint32_t turn;    /* futex word: a second waiter of one direction waits here */
	_Atomic uint32_t nturn;   /* Gs about to wait or waiting on turn: a park's end wakes them
	                             only if any (a futex wake's bucket look per wait otherwise) */
};

#define GMP_NETPOLL_READ 0
#define GMP_NETPOLL_WRITE 1

/* The fd table (netpoll.c): pages of records, never freed. */
#define GMP_FD_PAGE_FDS 1024
#define GMP_FD_MAX_PAGES 1024 /* 1M fds */
extern struct gmp_pollfd *_Atomic gmp_fd_pages[GMP_FD_MAX_PAGES] GMP_HIDDEN;
/* Every record the table has; `continue` goes to the next record. */
#define FOR_EACH_REC(pd)                                                                            \
	for (int pg_ = 0; pg_ < GMP_FD_MAX_PAGES; pg_++)                                              \
		for (struct gmp_pollfd *base_ = atomic_load(&gmp_fd_pages[pg_]), *pd = base_;         \
		     base_ && pd < base_ + GMP_FD_PAGE_FDS; pd++)
struct gmp_pollfd *gmp_fd_get(int fd) GMP_HIDDEN;             /* any: the record, or NULL if unmanaged */
/*
 * O_NONBLOCK belongs to the open file description, which dup'ed fds share.
 * Every change the program makes through fcntl/ioctl bumps this counter;
 * a record whose viewgen is older rereads the flag before trusting
 * user_nonblock.  Changes are rare, so reads stay free of system calls.
 */
extern _Atomic uint32_t gmp_fd_viewgen GMP_HIDDEN;
bool gmp_fd_nonblock(int fd, struct gmp_pollfd *pd) GMP_HIDDEN; /* the program's current O_NONBLOCK view */
/*
 * A forced pipe end's key for ino: a number of its own, given at creation (no dup exists yet;
 * dup_like copies it), with the top bit that no socket inode has.
 */
#define GMP_FD_PIPEKEY(n) (1ULL << 63 | (uint64_t)(n))
extern bool gmp_fd_pipes_plain GMP_HIDDEN;                     /* GMP_PIPES=plain: no forced pipes */
/* any: a pipe end pipe2 just made blocking, flags its file status flags (O_DIRECT): 0 or -errno */
int gmp_fd_force_pipe(int fd, int flags) GMP_HIDDEN;
void gmp_fd_libs_changed(void) GMP_HIDDEN; /* start-up, after dlopen: liburing loaded? (no forced pipes then) */
void gmp_fd_unforce(int fd) GMP_HIDDEN;                         /* any: fd's pipe leaves the shims' reach */
void gmp_fd_unforce_all(void) GMP_HIDDEN;                       /* any, also a vfork child: all of them */
void gmp_fd_fork_prepare(void) GMP_HIDDEN; /* fork: give all back, hold forcelock (parent: forceunlock) */
void gmp_fd_forceunlock(void) GMP_HIDDEN; /* fork's parent: gmp_fd_fork_prepare took it */
void gmp_fd_force_fork_child(void) GMP_HIDDEN; /* fork child (netpoll.c) */
/* The program's O_NONBLOCK view through fd: F_SETFL's arg, or FIONBIO's int *arg (fionbio); 0 or -errno */
long gmp_fd_set_view(int fd, struct gmp_pollfd *pd, bool fionbio, long arg) GMP_HIDDEN;
void gmp_fd_force_listener(int fd, struct gmp_pollfd *pd) GMP_HIDDEN; /* after listen(2): O_NONBLOCK underneath */
/* Facts of a managed fd the I/O paths read (set once, or by the program's setsockopt) */
void gmp_fd_set_socket(int fd, bool stream, bool tcp) GMP_HIDDEN;
void gmp_fd_set_rcvlowat(struct gmp_pollfd *pd, int lowat) GMP_HIDDEN;
void gmp_fd_set_no_nowait(struct gmp_pollfd *pd) GMP_HIDDEN;
void gmp_fd_copy_facts(int newfd, struct gmp_pollfd *old) GMP_HIDDEN; /* newfd: a dup of old's fd */
/*
 * G: a system call on a forced pipe that relies on its O_NONBLOCK; GMP_FD_UNFORCED
 * (not an errno) if the pipe was given back its blocking mode: redo it per call.
 */
#define GMP_FD_UNFORCED (-4096L - 1)
static inline long gmp_fd_nbcall(struct gmp_m *m, struct gmp_pollfd *pd, long nr, long a, long b, long c)
{
	/* seq_cst: pairs with gmp_fd_unforce's store, then scan; a handler's call nests */
	struct gmp_pollfd *outer = atomic_exchange(&m->nbpd, pd);
	long r = atomic_load(&pd->forced_nonblock) ? gmp_syscall6(nr, a, b, c, 0, 0, 0) : GMP_FD_UNFORCED;
	atomic_store_explicit(&m->nbpd, outer, memory_order_release);
	return r;
}
/*
 * any: a new pollable fd; 0 or -errno.  kind: GMP_FD_ONESHOT (asked whether epoll takes it),
 * GMP_FD_EDGE (sockets), GMP_FD_PIPE (one-shot, epoll takes pipes: not asked, which would mark
 * the pipe polled and make every write to it wake its wait queue)
 */
enum { GMP_FD_ONESHOT, GMP_FD_EDGE, GMP_FD_PIPE };
int gmp_fd_manage(int fd, bool user_nonblock, int kind) GMP_HIDDEN;
void gmp_fd_close(int fd) GMP_HIDDEN;                          /* any: before close: wake parked Gs with EBADF */
/*
 * G: park until fd is ready for mode: 0 ready (retry the call), -EBADF, -ETIMEDOUT, -EINTR,
 * -ECANCELED.  seen: for an edge fd, 1 + its count of edges of that direction (redges, wedges)
 * read before the call that failed, and an edge taken since returns 0 at once; 0 if not read.
 */
int gmp_netpoll_wait(int fd, int mode, int64_t deadline, uint32_t seen) GMP_HIDDEN;
/* An edge fd's edge count for mode, for gmp_netpoll_wait's seen; 0 for other fds. */
uint32_t gmp_netpoll_edges(struct gmp_pollfd *pd, int mode) GMP_HIDDEN;
/*
 * Drained reads: a read of the fd that began when its read-edge count was
 * seen - 1 (seen from gmp_netpoll_edges) found the receive queue empty:
 * it returned EAGAIN, or (TCP) less than it asked for.  While the poller
 * takes no read edge for the fd, a read would fail again, so a blocking
 * read or a poll for input may park at once instead of asking the kernel
 * (syscall-shims/io.c, poll.c).  rsticky (an edge said end of file, an
 * error or urgent data) turns the skip off for good.
 */
static inline bool gmp_fd_read_drained(struct gmp_pollfd *pd, uint32_t seen)
{
	return seen && atomic_load_explicit(&pd->rdrained, memory_order_relaxed) == seen &&
	       !atomic_load_explicit(&pd->rsticky, memory_order_relaxed);
}
static inline void gmp_fd_set_drained(struct gmp_pollfd *pd, uint32_t seen)
{
	if (seen)
		atomic_store_explicit(&pd->rdrained, seen, memory_order_relaxed);
}
bool gmp_netpoll_waiters(void) GMP_HIDDEN;                      /* any */
extern _Atomic uint64_t gmp_netpoll_npoll, gmp_netpoll_nready GMP_HIDDEN; /* polls; Gs they readied */
int gmp_netpoll_poll(int64_t timeout_ns, struct gmp_g **list) GMP_HIDDEN; /* any: Gs made ready, linked by schedlink */
void gmp_netpoll_fork_child(void) GMP_HIDDEN;                   /* fork child handler: a poller of its own */

/* Backend (netpoll_epoll.c): each returns 0 (gmp_netpoll_os_wait: the events reported) or -errno. */
int gmp_netpoll_os_init(void) GMP_HIDDEN;
int gmp_netpoll_os_fork_child(void) GMP_HIDDEN; /* drop the parent's poller, make a new one */
int gmp_netpoll_os_add(int fd, uint64_t token, int edge) GMP_HIDDEN; /* edge: 0 one-shot, disarmed; 1 ET read; 3 ET both */
int gmp_netpoll_os_arm(int fd, uint64_t token, int rw, bool add) GMP_HIDDEN; /* one-shot fds; rw: 1 read, 2 write;
                                                                             add: not in the set now */
int gmp_netpoll_os_del(int fd) GMP_HIDDEN;                          /* one-shot fds: out of the set */
int gmp_netpoll_os_edge_out(int fd, uint64_t token) GMP_HIDDEN;    /* edge fds: report writes too */
/* Wait up to timeout_ns (-1 forever, 0 poll); calls ready(token, mask) for each event: 1 read, 2 write,
 * GMP_NETPOLL_STICKY end of file, error or urgent data (with 1). */
#define GMP_NETPOLL_STICKY 4
int gmp_netpoll_os_wait(int64_t timeout_ns, void (*ready)(uint64_t token, int rw, void *arg), void *arg) GMP_HIDDEN;
void gmp_netpoll_os_break(void) GMP_HIDDEN;
#endif
