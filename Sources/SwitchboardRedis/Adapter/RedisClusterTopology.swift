/// Which master serves each hash slot of a Redis Cluster, as one node's
/// `CLUSTER SLOTS` told it: the slot map the sharded adapter routes by.
///
/// A slot no range covers has no owner (a cluster that lost a shard, or is
/// being set up): what maps to it cannot be published or subscribed until a
/// later map covers it.
struct RedisClusterTopology: Sendable, Equatable {
    /// The owner of each slot, as an index into ``masters``.
    private var owners: [Int16]
    /// The masters that own at least one slot, in the order first seen.
    private(set) var masters: [RedisHostPort]

    init() {
        owners = Array(repeating: -1, count: RedisClusterSlot.count)
        masters = []
    }

    /// The master serving `slot`.
    func owner(ofSlot slot: Int) -> RedisHostPort? {
        let index = owners[slot]
        return index < 0 ? nil : masters[Int(index)]
    }

    /// The master serving the channel or key `name`.
    func owner(of name: String) -> RedisHostPort? {
        owner(ofSlot: RedisClusterSlot.of(name))
    }

    /// Slots with no owner.
    var uncoveredSlots: Int {
        owners.reduce(0) { $0 + ($1 < 0 ? 1 : 0) }
    }

    /// Slots `master` serves.
    func slotCount(of master: RedisHostPort) -> Int {
        guard let index = masters.firstIndex(of: master) else { return 0 }
        return owners.reduce(0) { $0 + ($1 == Int16(index) ? 1 : 0) }
    }

    /// Reads a `CLUSTER SLOTS` reply from the node at `asked`: an array of
    /// `[start, end, [host, port, id, …], replicas…]`. An empty host (a
    /// node that does not know its own address) means `asked`.
    init(clusterSlots value: RedisValue, asked: RedisHostPort) throws(RedisClusterReplyError) {
        self.init()
        guard case .array(let ranges) = value else {
            throw RedisClusterReplyError("unexpected answer to CLUSTER SLOTS: \(String("\(value)".prefix(200)))")
        }
        for range in ranges {
            guard case .array(let fields) = range, fields.count >= 3,
                  case .integer(let start) = fields[0], case .integer(let end) = fields[1],
                  (0..<RedisClusterSlot.count).contains(start), (start...(RedisClusterSlot.count - 1)).contains(end),
                  case .array(let master) = fields[2], master.count >= 2,
                  let host = master[0].string, case .integer(let port) = master[1], (1...65_535).contains(port)
            else {
                throw RedisClusterReplyError("unexpected slot range in CLUSTER SLOTS: \(String("\(range)".prefix(200)))")
            }
            guard host.isEmpty || (host.utf8.count <= 255 && host != "?") else {
                throw RedisClusterReplyError("slots \(start)-\(end) have a master without a usable address (\"\(host)\")")
            }
            let address = host.isEmpty ? asked : RedisHostPort(host: host, port: port)
            let index: Int
            if let known = masters.firstIndex(of: address) {
                index = known
            } else {
                guard masters.count < Int(Int16.max) else { throw RedisClusterReplyError("too many masters in CLUSTER SLOTS") }
                index = masters.count
                masters.append(address)
            }
            for slot in start...end {
                owners[slot] = Int16(index)
            }
        }
        guard !masters.isEmpty else {
            throw RedisClusterReplyError("CLUSTER SLOTS lists no slot: the cluster has no slots assigned yet")
        }
    }
}

/// A cluster node's answer that cannot be used as a slot map.
struct RedisClusterReplyError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
