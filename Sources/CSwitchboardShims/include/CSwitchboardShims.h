#ifndef CSWITCHBOARD_SHIMS_H
#define CSWITCHBOARD_SHIMS_H

/* The small C helpers Swift cannot express: cache prefetching for the
   broadcast fan-out, and the glibc posix_spawn extensions that Swift's
   Glibc module does not show (they need _GNU_SOURCE). */

/// Asks the CPU to start loading `lines` 64-byte cache lines from `address`
/// on, without waiting for them. Never faults, whatever the address.
static inline void switchboard_prefetch(const void *address, int lines) {
    const char *p = (const char *)address;
    for (int i = 0; i < lines; i++) {
        __builtin_prefetch(p + 64 * i, 0, 3);
    }
}

#if defined(__linux__)
#include <spawn.h>

/* glibc 2.29 and 2.34 extensions, declared here rather than by defining
   _GNU_SOURCE for the whole module. */
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *, const char *);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int);

/// Makes the spawned child change to `path` before it runs the program.
static inline int switchboard_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

/// Makes the spawned child close every descriptor from `from` on, after the
/// earlier file actions (the dup2s onto 0, 1 and 2) ran.
static inline int switchboard_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
#endif

#endif
