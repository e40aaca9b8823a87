#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
#endif

/// One reading of the server process: CPU time (user + system, from
/// `/proc/<pid>/stat`), resident memory (`VmRSS` in `/proc/<pid>/status`)
/// and when it was taken.
struct ServerSample: Sendable {
    /// User + system CPU time, in microseconds (clock-tick resolution, 10 ms
    /// on most kernels: measure over seconds, not milliseconds).
    var cpuMicroseconds: UInt64
    /// Resident set size, in bytes.
    var rssBytes: UInt64
    /// `MonotonicClock` time of the reading.
    var takenAt: UInt64

    /// Reads `/proc/<pid>`; `nil` when the process is gone or the files
    /// cannot be parsed.
    static func read(pid: Int32) -> ServerSample? {
        let takenAt = MonotonicClock.now()
        guard let stat = ProcFile.read("/proc/\(pid)/stat"),
              let cpuTicks = Self.cpuTicks(stat: stat),
              let status = ProcFile.read("/proc/\(pid)/status"),
              let rssKiB = Self.rssKiB(status: status)
        else { return nil }
        let ticksPerSecond = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        return ServerSample(
            cpuMicroseconds: cpuTicks * 1_000_000 / ticksPerSecond,
            rssBytes: rssKiB * 1024,
            takenAt: takenAt
        )
    }

    /// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The
    /// command name (field 2) may hold spaces and parentheses, so fields are
    /// counted from the last `)`.
    static func cpuTicks(stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state): utime is field 14, stime field 15.
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return user + system
    }

    /// The `VmRSS:  1234 kB` value of `/proc/<pid>/status`, in KiB.
    static func rssKiB(status: String) -> UInt64? {
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let parts = line.dropFirst("VmRSS:".count).split(whereSeparator: { $0 == " " || $0 == "\t" })
            return parts.first.flatMap { UInt64($0) }
        }
        return nil
    }
}

/// Reads small `/proc` files in full (their size is reported as 0, so read
/// until end of file).
enum ProcFile {
    static func read(_ path: String, limit: Int = 1 << 16) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let count = bytes.withUnsafeMutableBytes { raw in
                systemRead(fd, raw.baseAddress! + total, limit - total)
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            total += count
        }
        return String(decoding: bytes[0..<total], as: UTF8.self)
    }
}
