/// What the connections of one event loop counted; merged across loops for
/// progress lines and the report.
struct BenchTally: Sendable {
    /// Most distinct error kinds kept; the rest count as `other`.
    static let maxErrorKinds = 32

    /// Broadcasts delivered (fanout), replies received in the window (echo).
    var received: UInt64 = 0
    /// Pushes sent (echo).
    var sent: UInt64 = 0
    /// Replies that arrived after the measured window closed.
    var late: UInt64 = 0
    /// Pushes not sent because the connection had too many awaiting a reply.
    var skipped: UInt64 = 0
    /// ``MonotonicClock`` time of the last counted reception.
    var lastReceivedAt: UInt64 = 0
    /// Bytes the receivers read once joined (WebSocket headers included).
    var wireBytes: UInt64 = 0
    /// Frames that arrived compressed (permessage-deflate).
    var compressedFrames: UInt64 = 0
    /// Connections that closed while the bench held them.
    var closes = 0
    /// Those closes by the server's close code (`none` without a close frame).
    var closeCodes: [String: Int] = [:]
    /// Failures by kind (push timeouts, errors, …).
    var errors: [String: Int] = [:]
    var latency = LatencyHistogram()

    mutating func countError(_ kind: String) {
        Self.count(kind, in: &self.errors)
    }

    mutating func countClose(code: UInt16?) {
        self.closes += 1
        Self.count(code.map(String.init) ?? "none", in: &self.closeCodes)
    }

    static func count(_ kind: String, in table: inout [String: Int], by amount: Int = 1) {
        if table[kind] != nil || table.count < Self.maxErrorKinds {
            table[kind, default: 0] += amount
        } else {
            table["other", default: 0] += amount
        }
    }

    mutating func merge(_ other: BenchTally) {
        self.received += other.received
        self.sent += other.sent
        self.late += other.late
        self.skipped += other.skipped
        self.lastReceivedAt = max(self.lastReceivedAt, other.lastReceivedAt)
        self.wireBytes += other.wireBytes
        self.compressedFrames += other.compressedFrames
        self.closes += other.closes
        for (kind, count) in other.closeCodes {
            Self.count(kind, in: &self.closeCodes, by: count)
        }
        for (kind, count) in other.errors {
            Self.count(kind, in: &self.errors, by: count)
        }
        self.latency.merge(other.latency)
    }
}
