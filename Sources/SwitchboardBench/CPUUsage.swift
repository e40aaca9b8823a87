#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU time consumed by this process (all threads, user + system), from
/// `getrusage(RUSAGE_SELF)`: what the load generator itself costs.
enum CPUUsage {
    /// User + system CPU time of this process, in microseconds.
    static func selfMicroseconds() -> UInt64 {
        var usage = rusage()
        guard getrusage(Self.who, &usage) == 0 else { return 0 }
        return Self.microseconds(usage.ru_utime) + Self.microseconds(usage.ru_stime)
    }

    #if canImport(Glibc)
    private static let who = __rusage_who_t(RUSAGE_SELF.rawValue)
    #else
    private static let who = RUSAGE_SELF
    #endif

    private static func microseconds(_ time: timeval) -> UInt64 {
        UInt64(max(0, time.tv_sec)) * 1_000_000 + UInt64(max(0, time.tv_usec))
    }
}
