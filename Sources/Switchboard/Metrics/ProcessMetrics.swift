#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The standard `process_*` metrics of Prometheus client libraries, read
/// from `/proc` on Linux: CPU time, memory, file descriptors, start time.
///
/// Elsewhere only ``maxFileDescriptors`` is known, and the other values are
/// `nil` (and left out of ``prometheusText``).
public struct ProcessMetrics: Sendable, Equatable {
    /// User and system CPU time, in seconds.
    public var cpuSeconds: Double?
    /// Resident memory, in bytes.
    public var residentMemoryBytes: Int?
    /// Virtual memory, in bytes.
    public var virtualMemoryBytes: Int?
    /// Open file descriptors.
    public var openFileDescriptors: Int?
    /// The soft limit on open file descriptors.
    public var maxFileDescriptors: Int?
    /// When the process started, in seconds since the Unix epoch.
    public var startTimeSeconds: Double?

    public init(
        cpuSeconds: Double? = nil, residentMemoryBytes: Int? = nil, virtualMemoryBytes: Int? = nil,
        openFileDescriptors: Int? = nil, maxFileDescriptors: Int? = nil, startTimeSeconds: Double? = nil
    ) {
        self.cpuSeconds = cpuSeconds
        self.residentMemoryBytes = residentMemoryBytes
        self.virtualMemoryBytes = virtualMemoryBytes
        self.openFileDescriptors = openFileDescriptors
        self.maxFileDescriptors = maxFileDescriptors
        self.startTimeSeconds = startTimeSeconds
    }

    /// The values as they are now.
    public static func current() -> ProcessMetrics {
        var metrics = ProcessMetrics()
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t.max {  // RLIM_INFINITY is all ones
            metrics.maxFileDescriptors = Int(clamping: limit.rlim_cur)
        }
        #if os(Linux)
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = readProcFile("/proc/self/stat"), let fields = statFields(stat), fields.count > 20, ticks > 0 {
            // Fields 14 and 15 (utime, stime) and 22 (starttime, since boot) are in
            // clock ticks; 23 is vsize in bytes. `fields` starts at field 3.
            if let user = Double(fields[11]), let system = Double(fields[12]) {
                metrics.cpuSeconds = (user + system) / ticks
            }
            metrics.virtualMemoryBytes = Int(fields[20])
            if let start = Double(fields[19]), let boot = bootTime() {
                metrics.startTimeSeconds = boot + start / ticks
            }
        }
        metrics.residentMemoryBytes = ResidentMemory.current()
        metrics.openFileDescriptors = openFileDescriptorCount()
        #endif
        return metrics
    }

    /// The values in Prometheus text format, each with its `# HELP` and `# TYPE` lines.
    public var prometheusText: String {
        var text = ""
        func add(_ name: String, _ type: String, _ value: String?) {
            guard let value, let help = PrometheusPage.help[name] else { return }
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        add("process_cpu_seconds_total", "counter", cpuSeconds.map { "\($0)" })
        add("process_resident_memory_bytes", "gauge", residentMemoryBytes.map(String.init))
        add("process_virtual_memory_bytes", "gauge", virtualMemoryBytes.map(String.init))
        add("process_open_fds", "gauge", openFileDescriptors.map(String.init))
        add("process_max_fds", "gauge", maxFileDescriptors.map(String.init))
        add("process_start_time_seconds", "gauge", startTimeSeconds.map { "\($0)" })
        return text
    }

    #if os(Linux)
    /// The fields of `/proc/self/stat` after the command name (which may hold spaces), from field 3 on.
    private static func statFields(_ stat: String) -> [Substring]? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// The system's boot time (`btime` of `/proc/stat`), in seconds since the epoch.
    private static func bootTime() -> Double? {
        guard let stat = readProcFile("/proc/stat") else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count).filter { !$0.isWhitespace })
        }
        return nil
    }

    /// The entries of `/proc/self/fd`, less the one this count opens.
    private static func openFileDescriptorCount() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        // Only the name's first byte is read: `entry.pointee` would copy a
        // whole `dirent`, 256 bytes of name included, past the end of a short
        // entry and of glibc's buffer, which can end at an unmapped page.
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while let entry = readdir(directory) {
            let first = UnsafeRawPointer(entry).load(fromByteOffset: nameOffset, as: UInt8.self)
            if first != UInt8(ascii: ".") { count += 1 }
        }
        return max(0, count - 1)
    }

    /// The text of a file of `/proc` (whose size is not known before reading it).
    private static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[..<count]
            if bytes.count > 1 << 20 { break }
        }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }
    #endif
}
