#ifndef CSWITCHBOARD_CACHE_H
#define CSWITCHBOARD_CACHE_H

/* Cache prefetching for the broadcast fan-out, which Swift cannot express. */

/// Asks the CPU to start loading `lines` 64-byte cache lines from `address`
/// on, without waiting for them. Never faults, whatever the address.
static inline void switchboard_prefetch(const void *address, int lines) {
    const char *p = (const char *)address;
    for (int i = 0; i < lines; i++) {
        __builtin_prefetch(p + 64 * i, 0, 3);
    }
}

#endif
