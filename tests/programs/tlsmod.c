/* tlsmod: a shared module with initial-exec TLS, loaded by dlopen_tls with
 * dlopen after threads exist. Its variables must start from their
 * initialisers in every thread, including threads created before the module
 * was loaded. The accessors are exported explicitly in case the build
 * defaults to hidden visibility. */
#define EXPORT __attribute__((visibility("default")))

static __thread int v __attribute__((tls_model("initial-exec"))) = 42;
/* More than the 64 bytes by which gmp rounds the TLS in use (core/tcb.c
 * set_gap), so that with GMP_TLS_RESERVE=0 the module never fits by
 * rounding alone (scale/tls_reserve), and far less than the default 512. */
static __thread char tag[136] __attribute__((tls_model("initial-exec"))) = "tlsmod";

EXPORT int tlsmod_get(void) { return v; }
EXPORT void tlsmod_set(int x) { v = x; }
EXPORT int *tlsmod_addr(void) { return &v; }
EXPORT const char *tlsmod_tag(void) { return tag; }
