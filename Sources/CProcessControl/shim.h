#ifndef CPROCESSCONTROL_SHIM_H
#define CPROCESSCONTROL_SHIM_H
#include <sys/prctl.h>

/* prctl(2) is variadic, which Swift cannot call: one fixed-argument wrapper per use. */

/* Makes the process non-dumpable: no core file, and /proc/<pid>/environ, mem and maps become
   unreadable to other processes of the same user (the Claude Code CLIs the server runs among them). */
static inline int nimproxy_set_not_dumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static inline int nimproxy_is_dumpable(void) {
    return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
}
#endif
