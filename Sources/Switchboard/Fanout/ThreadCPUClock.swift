#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// The CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`): how
/// long a piece of a loop's work really took, without the time the thread
/// spent preempted by other processes. A system call, not a vDSO read: for
/// work of at least tens of microseconds.
enum ThreadCPUClock {
    static func now() -> TimeAmount {
        var time = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time) == 0 else { return .zero }
        return .nanoseconds(Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec))
    }
}
