#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A moment in UTC, for status details and logs: `2025-11-22T17:43:08Z`.
struct WallClock: Sendable, Hashable, CustomStringConvertible {
    let secondsSinceEpoch: Int

    static func now() -> WallClock {
        WallClock(secondsSinceEpoch: time(nil))
    }

    var description: String {
        var seconds = time_t(secondsSinceEpoch)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
