import Logging
import NIOConcurrencyHelpers
import Switchboard

/// The state of each of an adapter's connections, the adapter's overall
/// state derived from them, and the duplicate-node-name alarm. Every change
/// of state is logged here, once; health checks read ``status`` from any
/// thread.
final class RedisStatusBoard: Sendable {
    /// Where one connection (or the adapter as a whole) is.
    enum Phase: String, Sendable {
        /// The first connection is being made (``RedisAdapter/start(deliver:control:)``).
        case connecting
        case connected
        /// Lost and being re-established with backoff.
        case reconnecting
        case stopped
    }

    private struct Connection {
        var phase: Phase
        var since: WallClock
        var sinceInstant: ContinuousClock.Instant
        /// Failed attempts since the connection was lost.
        var failedAttempts = 0
        var lastError: String?
    }

    private struct Duplicate {
        var instance: UInt64
        var lastSeen: ContinuousClock.Instant
    }

    private struct State {
        var connections: [String: Connection] = [:]
        var overall = Phase.connecting
        var overallSince = WallClock.now()
        var duplicate: Duplicate?
        /// A Redis Cluster's shards, as ``RedisClusterShards`` last described them.
        var clusterSummary: String?
        /// Roles gone for good (cluster shards that serve no slot any more).
        var removed: Set<String> = []
    }

    /// How long a duplicate name stays reported after its last envelope.
    static let duplicateMemory = Duration.seconds(60)

    private let state = NIOLockedValueBox(State())
    private let logger: Logger
    private let configuration: RedisAdapterConfiguration

    private let discovery: RedisSentinelDiscovery?
    /// The outage buffer, whose content the status detail shows.
    private let budget: RedisOutageBudget?

    init(configuration: RedisAdapterConfiguration, discovery: RedisSentinelDiscovery? = nil, budget: RedisOutageBudget? = nil, logger: Logger) {
        self.configuration = configuration
        self.discovery = discovery
        self.budget = budget
        self.logger = logger
    }

    /// The server connected to: the URL's, or the master the sentinels named last.
    private var server: String {
        if configuration.url.cluster != nil { return "the cluster" }
        guard let discovery else { return configuration.url.endpoint }
        return "the master of \(discovery.group.masterName) (\(discovery.master?.description ?? "not known yet"))"
    }

    // MARK: - Transitions

    /// `role` ("subscriber", "publisher 0") starts its first connection.
    func connecting(_ role: String) {
        update(role) { connection, _ in
            connection = Connection(phase: .connecting, since: .now(), sinceInstant: .now)
        }
    }

    /// `role` is connected (again).
    func connected(_ role: String) {
        update(role) { connection, logger in
            if let previous = connection, previous.phase == .reconnecting {
                let outage = ContinuousClock.now - previous.sinceInstant
                logger.notice("redis \(role) reconnected to \(self.server) after \(outage.humanReadable) (\(previous.failedAttempts + 1) attempts)")
            } else {
                logger.info("redis \(role) connected to \(self.server)")
            }
            connection = Connection(phase: .connected, since: .now(), sinceInstant: .now)
        }
    }

    /// `role` lost its connection for `reason` and starts reconnecting.
    func lost(_ role: String, reason: String) {
        update(role) { connection, logger in
            logger.warning("redis \(role) lost its connection to \(self.server): \(reason); reconnecting")
            connection = Connection(phase: .reconnecting, since: .now(), sinceInstant: .now, lastError: reason)
        }
    }

    /// A reconnect attempt of `role` failed; the next is in `delay`.
    func attemptFailed(_ role: String, reason: String, nextIn delay: Duration) {
        update(role) { connection, logger in
            guard var current = connection else { return }
            current.failedAttempts += 1
            let level: Logger.Level = current.failedAttempts == 1 || current.lastError != reason ? .info : .debug
            logger.log(level: level, "redis \(role) reconnect attempt \(current.failedAttempts) failed: \(reason); next in \(delay.humanReadable)")
            current.lastError = reason
            connection = current
        }
    }

    /// `role` is closed for good; nothing for a role ``removed(_:)`` already.
    func stopped(_ role: String) {
        update(role, unlessRemoved: true) { connection, _ in
            connection = Connection(phase: .stopped, since: .now(), sinceInstant: .now)
        }
    }

    /// The shards of a Redis Cluster, for the status detail.
    func setClusterSummary(_ summary: String) {
        state.withLockedValue { $0.clusterSummary = summary }
    }

    /// `role` is gone for good (a cluster shard that no longer serves slots):
    /// it no longer counts in the adapter's state.
    func removed(_ role: String) {
        state.withLockedValue { _ = $0.removed.insert(role) }
        update(role) { connection, _ in
            connection = nil
        }
    }

    private func update(_ role: String, unlessRemoved: Bool = false, _ body: (inout Connection?, Logger) -> Void) {
        state.withLockedValue { state in
            if unlessRemoved, state.connections[role] == nil, state.removed.contains(role) { return }
            var connection = state.connections[role]
            body(&connection, logger)
            state.connections[role] = connection
            let overall = Self.overall(of: state.connections.values.map(\.phase))
            guard overall != state.overall else { return }
            let previous = state.overall
            state.overall = overall
            state.overallSince = .now()
            switch overall {
            case .connected:
                logger.notice("redis adapter \(previous.rawValue) → connected: \(configuration.url), mode \(configuration.mode.rawValue), node \(configuration.nodeName)")
            case .reconnecting:
                let buffered = "buffered (up to \(configuration.outageBuffer) messages and \(Self.size(configuration.outageBufferBytes)) on this node) then dropped"
                logger.warning("redis adapter \(previous.rawValue) → reconnecting: broadcasts to other nodes are \(configuration.outageBuffer > 0 ? buffered : "dropped") until Redis is back")
            case .connecting, .stopped:
                logger.info("redis adapter \(previous.rawValue) → \(overall.rawValue)")
            }
        }
    }

    private static func overall(of phases: [Phase]) -> Phase {
        if phases.contains(.stopped) { return .stopped }
        if phases.contains(.reconnecting) { return .reconnecting }
        if phases.contains(.connecting) { return .connecting }
        return .connected
    }

    /// `bytes` in words: `512 B`, `12.5 KiB`, `64.0 MiB`.
    static func size(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return "\((value * 10).rounded() / 10) \(units[unit])"
    }

    // MARK: - Duplicate node names

    /// An envelope carrying this node's name came from another process.
    func duplicateSeen(instance: UInt64) {
        let now = ContinuousClock.now
        state.withLockedValue { state in
            if let duplicate = state.duplicate, duplicate.instance == instance, now - duplicate.lastSeen < Self.duplicateMemory {
                state.duplicate?.lastSeen = now
                return
            }
            state.duplicate = Duplicate(instance: instance, lastSeen: now)
            logger.error(
                "DUPLICATE NODE NAME: duplicate node name \(configuration.nodeName) detected: another process (instance \(String(instance, radix: 16))) publishes to Redis as this node. Node names must be unique in the cluster: give each node its own node_name (pubsub.redis.node_name or --node). Node-direct messages and self-filtering are unreliable until this is fixed."
            )
        }
    }

    // MARK: - Reading

    /// The adapter's state for health checks.
    var status: AdapterStatus {
        state.withLockedValue { state in
            var details: [String] = []
            if let duplicate = state.duplicate, ContinuousClock.now - duplicate.lastSeen < Self.duplicateMemory {
                details.append("duplicate node name \(configuration.nodeName) detected: another process (instance \(String(duplicate.instance, radix: 16))) publishes as this node")
            }
            switch state.overall {
            case .connected:
                details.append("connected to \(configuration.url)\(discovery?.master.map { " (master \($0))" } ?? "") since \(state.overallSince), mode \(configuration.mode.rawValue)")
            case .connecting:
                details.append("connecting to \(configuration.url)")
            case .reconnecting:
                let failing = state.connections.sorted { $0.key < $1.key }.compactMap { role, connection -> String? in
                    guard connection.phase == .reconnecting else { return nil }
                    return "\(role): \(connection.lastError ?? "connection lost") (\(connection.failedAttempts) failed attempts)"
                }
                details.append("reconnecting to \(configuration.url) since \(state.overallSince): \(failing.joined(separator: "; "))")
            case .stopped:
                details.append("stopped")
            }
            if let summary = state.clusterSummary, state.overall != .stopped {
                details.append(summary)
            }
            if let budget, budget.isOn, state.overall != .stopped {
                let held = budget.current
                if held.messages > 0 {
                    details.append(
                        "outage buffer: \(held.messages) of \(budget.maxMessages) messages, \(Self.size(held.bytes)) of \(Self.size(budget.maxBytes))"
                    )
                }
            }
            let connections = state.connections.sorted { $0.key < $1.key }.map { role, connection in
                AdapterStatus.Connection(
                    name: role, state: connection.phase.rawValue,
                    detail: connection.phase == .connected ? nil : connection.lastError
                )
            }
            return AdapterStatus(name: "redis", state: state.overall.rawValue, detail: details.joined(separator: "; "), connections: connections)
        }
    }
}
