import Synchronization

/// The last report of every node in the cluster, this one included. A node
/// whose reports stop is forgotten after ``missedReportsToForget`` intervals.
final class ClusterView: Sendable {
    /// Intervals without a report after which a node is forgotten.
    static let missedReportsToForget = 5

    private struct Entry {
        var report: NodeReport
        var receivedAt: ContinuousClock.Instant
    }

    private let interval: Duration
    private let entries = Mutex<[String: Entry]>([:])

    init(interval: Duration) {
        self.interval = interval
    }

    /// How long a report counts: five intervals, and half of one for jitter.
    private var lifetime: Duration {
        interval * Self.missedReportsToForget + interval / 2
    }

    func record(_ report: NodeReport, at now: ContinuousClock.Instant = .now) {
        let lifetime = self.lifetime
        entries.withLock { entries in
            entries[report.node] = Entry(report: report, receivedAt: now)
            entries = entries.filter { now - $0.value.receivedAt <= lifetime }
        }
    }

    /// The nodes heard from recently, sorted by name.
    func nodes(at now: ContinuousClock.Instant = .now) -> [NodeReport] {
        let lifetime = self.lifetime
        return entries.withLock { entries in
            entries.values.filter { now - $0.receivedAt <= lifetime }.map(\.report)
        }.sorted { $0.node < $1.node }
    }

    /// The lowest ``NodeReport/wireVersion`` among the nodes heard from
    /// recently other than `node`; `nil` when there are none.
    func lowestWireVersion(excluding node: String, at now: ContinuousClock.Instant = .now) -> Int? {
        nodes(at: now).lazy.filter { $0.node != node }.map(\.wireVersion).min()
    }

    /// The wire version a node that reads `own` writes: the lowest that it
    /// and its live peers (`lowestPeer`, `nil` when alone) read.
    static func wireVersionToWrite(own: Int, lowestPeer: Int?) -> Int {
        min(own, lowestPeer ?? own)
    }
}
