import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Finds the current master of a Sentinel group: asks the sentinels in turn
/// `SENTINEL GET-MASTER-ADDR-BY-NAME <name>` on a short-lived connection
/// each, skipping those that do not answer, and takes the first address
/// given. Every connection and command is bounded by the connect timeout.
///
/// An address is only a hint: the connection to it checks `ROLE` (see
/// ``RedisConnector``), and a server that is not a master is reported back
/// through ``rejected(_:)``, which makes the next discovery start at the
/// next sentinel, in case the one asked had a stale view.
final class RedisSentinelDiscovery: Sendable {
    let group: RedisSentinelGroup
    private let username: String?
    private let password: String?
    private let connectTimeout: Duration
    private let clientName: String
    private let logger: Logger
    /// The sentinel asked first next time.
    private let firstSentinel = NIOLockedValueBox(0)
    /// The master last found or announced.
    private let knownMaster = NIOLockedValueBox<RedisHostPort?>(nil)

    init(group: RedisSentinelGroup, username: String?, password: String?, connectTimeout: Duration, clientName: String, logger: Logger) {
        self.group = group
        self.username = username
        self.password = password
        self.connectTimeout = connectTimeout
        self.clientName = clientName
        self.logger = logger
    }

    /// The master last found or announced by `+switch-master`.
    var master: RedisHostPort? {
        knownMaster.withLockedValue { $0 }
    }

    /// A sentinel announced `address` as the new master.
    func switched(to address: RedisHostPort) {
        knownMaster.withLockedValue { $0 = address }
    }

    /// `address` turned out not to be a master: ask another sentinel first next time.
    func rejected(_ address: RedisHostPort) {
        firstSentinel.withLockedValue { $0 = ($0 + 1) % group.sentinels.count }
    }

    /// The settings of a connection to `sentinel`.
    func connectionSettings(_ sentinel: RedisHostPort, role: String) -> RedisConnector.Settings {
        RedisConnector.Settings(
            url: RedisURL(host: sentinel.host, port: sentinel.port, username: username, password: password),
            connectTimeout: connectTimeout,
            limits: HiredisReader.Limits(maxReplyBytes: 64 << 10),
            clientName: "\(clientName):\(role)"
        )
    }

    /// The sentinels' current answer; fails with
    /// ``RedisAdapterError/sentinelFailed(group:reasons:)`` when none gave one.
    func discover(on eventLoop: any EventLoop) -> EventLoopFuture<RedisHostPort> {
        let first = firstSentinel.withLockedValue { $0 }
        let count = group.sentinels.count
        let order = (0..<count).map { group.sentinels[(first + $0) % count] }
        return ask(order[...], reasons: [], on: eventLoop).map { address in
            self.knownMaster.withLockedValue { $0 = address }
            return address
        }
    }

    private func ask(_ sentinels: ArraySlice<RedisHostPort>, reasons: [String], on eventLoop: any EventLoop) -> EventLoopFuture<RedisHostPort> {
        guard let sentinel = sentinels.first else {
            return eventLoop.makeFailedFuture(RedisAdapterError.sentinelFailed(group: group, reasons: reasons))
        }
        return ask(sentinel, on: eventLoop).flatMapError { error in
            var reason = "\(sentinel): \(error)"
            if reason.contains("NOAUTH") || reason.contains("WRONGPASS") {
                reason += " (the sentinels' own password is the setting pubsub.redis.sentinel.password; the URL's is the master's)"
            }
            self.logger.debug("redis sentinel \(reason)")
            return self.ask(sentinels.dropFirst(), reasons: reasons + [reason], on: eventLoop)
        }
    }

    private func ask(_ sentinel: RedisHostPort, on eventLoop: any EventLoop) -> EventLoopFuture<RedisHostPort> {
        let masterName = group.masterName
        let timeout = connectTimeout
        return RedisConnector.connect(connectionSettings(sentinel, role: "discovery"), on: eventLoop) { RedisCommandHandler() }
            .flatMap { channel in
                let reply = eventLoop.makePromise(of: RedisValue.self)
                let request = RedisRequest(
                    bytes: RedisCommand.encode(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", .string(masterName)], allocator: channel.allocator),
                    replies: [.promise(reply)]
                )
                let timer = eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                    reply.fail(RedisSentinelReplyError("no answer within \(timeout.humanReadable)"))
                }
                channel.writeAndFlush(request, promise: nil)
                return reply.futureResult.always { _ in
                    timer.cancel()
                    channel.close(promise: nil)
                }
            }
            .flatMapThrowing { value in
                try Self.masterAddress(value, masterName: masterName)
            }
    }

    /// Reads the reply to `SENTINEL GET-MASTER-ADDR-BY-NAME`: `[ip, port]`,
    /// or a null reply for a name the sentinel does not monitor.
    static func masterAddress(_ value: RedisValue, masterName: String) throws -> RedisHostPort {
        switch value {
        case .null:
            throw RedisSentinelReplyError("monitors no master named \"\(masterName)\"")
        case .array(let elements) where elements.count == 2:
            guard let host = elements[0].string, !host.isEmpty, host.utf8.count <= 255,
                  let portText = elements[1].string, let port = Int(portText), (1...65_535).contains(port)
            else { break }
            return RedisHostPort(host: host, port: port)
        default:
            break
        }
        throw RedisSentinelReplyError("unexpected answer to SENTINEL GET-MASTER-ADDR-BY-NAME: \(String("\(value)".prefix(200)))")
    }
}

/// A sentinel's answer that cannot be used.
struct RedisSentinelReplyError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
