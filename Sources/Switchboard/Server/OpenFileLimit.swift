#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit: one descriptor per connection, so a server
/// (or a load generator) raises its soft limit to the hard one at start, as
/// the shell's default soft limit (often 1,024) would cap it far below what
/// the machine allows.
package enum OpenFileLimit {
    /// The limits before and after ``raiseToHardLimit()``.
    package struct Change {
        package var before: UInt64
        package var now: UInt64
    }

    /// Raises the soft limit to the hard limit.
    @discardableResult
    package static func raiseToHardLimit() -> Change? {
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return nil }
        let before = UInt64(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return Change(before: before, now: before) }
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        guard setrlimit(resource, &raised) == 0 else { return Change(before: before, now: before) }
        return Change(before: before, now: UInt64(raised.rlim_cur))
    }
}
