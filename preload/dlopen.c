/*
 * dlopen: after glibc loads a module, copy the TLS image of a new
 * initial-exec module into every G's TCB (core/tcb.c explains why).
 *
 * glibc searches for a bare file name ("libplugin.so") with the search
 * path of the object that called dlopen, found from the return address:
 * its DT_RPATH/DT_RUNPATH, with $ORIGIN its own directory.  Called from
 * this wrapper, that object would be libgmp, whose path has neither.  So
 * for a bare name that is not loaded yet, the wrapper walks the caller's
 * own search path (dlinfo RTLD_DI_SERINFO, as glibc computed it, $ORIGIN
 * expanded) up to the system directories and opens the first file that
 * exists by its full path; the rest (ld.so.cache, the system directories,
 * the error message when nothing is found) is glibc's own search, as for
 * any caller.
 */
#include "export.h"
#include "../core/netpoll.h"

#include <alloca.h>
#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

/* Searched after ld.so.cache by glibc itself: from here on its own search is the caller's. */
static bool system_dir(const char *d)
{
	static const char *const sys[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
					  "/usr/lib64", "/lib", "/usr/lib"};
	size_t n = strlen(d);
	while (n > 1 && d[n - 1] == '/')
		n--;
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
		if (strlen(sys[i]) == n && memcmp(sys[i], d, n) == 0)
			return true;
	return false;
}

typedef void *(*opener)(Lmid_t, const char *, int);

static void *by_dlopen(Lmid_t lmid, const char *file, int mode)
{
	(void)lmid;
	return gmp_libc.dlopen(file, mode);
}

static void *by_dlmopen(Lmid_t lmid, const char *file, int mode) { return gmp_libc.dlmopen(lmid, file, mode); }

/* file as the object at address caller would find it; NULL: leave it to glibc's own search. */
static void *open_as(const void *caller, opener open, Lmid_t lmid, const char *file, int mode)
{
	if (!file || !*file || strchr(file, '/'))
		return NULL;
	void *h = open(lmid, file, mode | RTLD_NOLOAD);
	if (h) { /* loaded already: glibc finds it by name whoever asks */
		dlclose(h);
		return NULL;
	}
	Dl_info info;
	struct link_map *lm = NULL;
	if (!dladdr1(caller, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
		return NULL;
	Dl_serinfo size;
	if (dlinfo(lm, RTLD_DI_SERINFOSIZE, &size) != 0 || size.dls_size > 65536)
		return NULL;
	Dl_serinfo *si = alloca(size.dls_size);
	memcpy(si, &size, sizeof size);
	if (dlinfo(lm, RTLD_DI_SERINFOSIZE, si) != 0 || dlinfo(lm, RTLD_DI_SERINFO, si) != 0)
		return NULL;
	size_t flen = strlen(file);
	for (unsigned i = 0; i < si->dls_cnt; i++) {
		const char *dir = si->dls_serpath[i].dls_name;
		if (system_dir(dir))
			break;
		size_t dlen = strlen(dir);
		char *path = alloca(dlen + flen + 2);
		memcpy(path, dir, dlen);
		path[dlen] = '/';
		memcpy(path + dlen + 1, file, flen + 1);
		if (access(path, F_OK) != 0)
			continue;
		h = open(lmid, path, mode);
		if (h)
			return h; /* (one of another class or machine is passed over, as by glibc) */
	}
	return NULL;
}

GMP_EXPORT void *dlopen(const char *file, int mode)
{
	gmp_init();
	void *h = open_as(__builtin_return_address(0), by_dlopen, 0, file, mode);
	if (!h)
		h = gmp_libc.dlopen(file, mode);
	if (h) {
		gmp_tcb_dlopen_sync();
		gmp_fd_libs_changed();
	}
	return h;
}

GMP_EXPORT void *dlmopen(Lmid_t lmid, const char *file, int mode)
{
	gmp_init();
	void *h = open_as(__builtin_return_address(0), by_dlmopen, lmid, file, mode);
	if (!h)
		h = gmp_libc.dlmopen(lmid, file, mode);
	if (h) {
		gmp_tcb_dlopen_sync();
		gmp_fd_libs_changed();
	}
	return h;
}
