/* tlsmod: a shared module with initial-exec TLS, loaded by dlopen_tls with
 * dlopen after threads exist. Its variables must start from their
 * initialisers in every thread, including threads created before the module
 * was loaded. The accessors are exported explicitly in case the build
 * defaults to hidden visibility. */
#define EXPORT __attribute__((visibility("default")))

static __thread int v __attribute__((tls_model("initial-exec"))) = 42;
static __thread char tag[8] __attribute__((tls_model("initial-exec"))) = "tlsmod";

EXPORT int tlsmod_get(void) { return v; }
EXPORT void tlsmod_set(int x) { v = x; }
EXPORT int *tlsmod_addr(void) { return &v; }
EXPORT const char *tlsmod_tag(void) { return tag; }
