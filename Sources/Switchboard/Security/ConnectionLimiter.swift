import Synchronization

/// Counts the WebSocket connections of each client address so that one
/// address cannot hold more than a configured number. Shared by every event
/// loop; touched once when an upgrade is decided and once when it closes.
final class ConnectionLimiter: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    /// Takes a slot for `address` if it holds fewer than `limit`; `false` when full.
    func reserve(_ address: String, limit: Int) -> Bool {
        counts.withLock { counts in
            let current = counts[address, default: 0]
            guard current < limit else { return false }
            counts[address] = current + 1
            return true
        }
    }

    /// Gives back a slot taken by ``reserve(_:limit:)``.
    func release(_ address: String) {
        counts.withLock { counts in
            guard let current = counts[address] else { return }
            counts[address] = current > 1 ? current - 1 : nil
        }
    }

    /// The slots `address` holds.
    func count(_ address: String) -> Int {
        counts.withLock { $0[address, default: 0] }
    }
}
