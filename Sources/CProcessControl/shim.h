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

/* sched_getaffinity(2) is declared only under _GNU_SOURCE, which a module's header cannot count on
   (glibc's headers may already be built without it): the prototype is spelt out here. The mask
   holds 1024 CPUs, glibc's cpu_set_t. Returns how many CPUs this process may run on, or -1. */
extern int sched_getaffinity(int pid, unsigned long cpusetsize, void *mask);

static inline int nimproxy_usable_cpus(void) {
    unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
    if (sched_getaffinity(0, sizeof mask, mask) != 0) return -1;
    int count = 0;
    for (unsigned i = 0; i < sizeof mask / sizeof mask[0]; i++) count += __builtin_popcountl(mask[i]);
    return count;
}
#endif
