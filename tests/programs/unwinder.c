/* The C++ unwinding ABI (_Unwind_RaiseException and the rest) the program
 * finds is libgcc's, as natively.  A program that reaches libgcc_s only
 * through another library (LuaJIT's error unwinding, a plugin) looks these
 * names up in the global scope after everything loaded at start-up; a
 * library that the preload brought in and that exports them unversioned
 * (Debian's libunwind.so.8 does) would be found first.  Here libgcc_s is
 * opened RTLD_GLOBAL at run time, then each name is looked up plainly and
 * by its GCC_3.0 version, and the object that defines it is printed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char *who(void *sym)
{
    Dl_info di;
    if (!sym)
        return "(none)";
    if (!dladdr(sym, &di) || !di.dli_fname)
        return "(unknown)";
    const char *s = strrchr(di.dli_fname, '/');
    return s ? s + 1 : di.dli_fname;
}

static void *look(void *arg)
{
    static const char *const names[] = {"_Unwind_RaiseException", "_Unwind_Resume", "_Unwind_Backtrace",
                                        "_Unwind_GetIP", "_Unwind_DeleteException", "_Unwind_ForcedUnwind"};
    (void)arg;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        printf("%s: %s, @GCC_3.0: %s\n", names[i], who(dlsym(RTLD_DEFAULT, names[i])),
               who(dlvsym(RTLD_DEFAULT, names[i], "GCC_3.0")));
    return NULL;
}

int main(void)
{
    if (!dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_GLOBAL)) {
        printf("no libgcc_s: %s\n", dlerror());
        return 0;
    }
    look(NULL);
    pthread_t t; /* and from a thread */
    if (pthread_create(&t, NULL, look, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    return 0;
}
