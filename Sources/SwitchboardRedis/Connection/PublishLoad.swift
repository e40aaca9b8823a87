import NIOCore

/// Tells a publisher connection under sustained load from one serving
/// moderate traffic, by the commands it wrote over the last millisecond or
/// so: only the former coalesces its writes (see
/// ``RedisAdapterConfiguration/publishCoalescing``), so moderate rates keep
/// their latency.
struct PublishLoad {
    /// Commands per millisecond from which the connection counts as busy (50,000 a second).
    static let busyCommandsPerMillisecond = 50

    private var windowStart = NIODeadline.now()
    private var commands = 0
    private(set) var isBusy = false

    /// Counts `written` commands; whether the connection is busy.
    mutating func record(_ written: Int) -> Bool {
        commands += written
        let now = NIODeadline.now()
        let elapsed = now - windowStart
        if elapsed >= .milliseconds(1) {
            isBusy = Int64(commands) * 1_000_000 >= Int64(Self.busyCommandsPerMillisecond) * elapsed.nanoseconds
            commands = 0
            windowStart = now
        }
        return isBusy
    }
}
