import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Reads a Redis Cluster's slot map: asks the nodes in turn `CLUSTER SLOTS`
/// on a short-lived connection each (the URL's credentials and TLS), the
/// masters of the last map first, then the URL's seeds, skipping those that
/// do not answer, and takes the first usable answer. Every connection and
/// command is bounded by the connect timeout.
final class RedisClusterDiscovery: Sendable {
    let seeds: [RedisHostPort]
    private let url: RedisURL
    private let tls: RedisTLSConfiguration
    private let connectTimeout: Duration
    private let clientName: String
    private let logger: Logger
    /// The masters of the last map read, asked first next time.
    private let lastMasters = NIOLockedValueBox<[RedisHostPort]>([])

    init(url: RedisURL, tls: RedisTLSConfiguration, connectTimeout: Duration, clientName: String, logger: Logger) {
        self.seeds = url.cluster ?? [RedisHostPort(host: url.host, port: url.port)]
        self.url = url
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.clientName = clientName
        self.logger = logger
    }

    /// The slot map of the first node that gives one; fails with
    /// ``RedisAdapterError/clusterFailed(seeds:reasons:)`` when none does.
    func discover(on eventLoop: any EventLoop) -> EventLoopFuture<RedisClusterTopology> {
        var order = lastMasters.withLockedValue { $0 }
        for seed in seeds where !order.contains(seed) {
            order.append(seed)
        }
        return ask(order[...], reasons: [], on: eventLoop).map { topology in
            self.lastMasters.withLockedValue { $0 = topology.masters }
            return topology
        }
    }

    private func ask(_ nodes: ArraySlice<RedisHostPort>, reasons: [String], on eventLoop: any EventLoop) -> EventLoopFuture<RedisClusterTopology> {
        guard let node = nodes.first else {
            return eventLoop.makeFailedFuture(RedisAdapterError.clusterFailed(seeds: seeds, reasons: reasons))
        }
        return ask(node, on: eventLoop).flatMapError { error in
            let reason = "\(node): \(error)"
            self.logger.debug("redis cluster \(reason)")
            return self.ask(nodes.dropFirst(), reasons: reasons + [reason], on: eventLoop)
        }
    }

    private func ask(_ node: RedisHostPort, on eventLoop: any EventLoop) -> EventLoopFuture<RedisClusterTopology> {
        let timeout = connectTimeout
        let settings = RedisConnector.Settings(
            url: url.pointing(to: node),
            connectTimeout: connectTimeout,
            limits: HiredisReader.Limits(maxReplyBytes: 4 << 20),
            clientName: "\(clientName):discovery",
            tls: tls
        )
        return RedisConnector.connect(settings, on: eventLoop) { RedisCommandHandler() }
            .flatMap { channel in
                let reply = eventLoop.makePromise(of: RedisValue.self)
                let request = RedisRequest(bytes: RedisCommand.encode(["CLUSTER", "SLOTS"], allocator: channel.allocator), replies: [.promise(reply)])
                let timer = eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                    reply.fail(RedisClusterReplyError("no answer to CLUSTER SLOTS within \(timeout.humanReadable)"))
                }
                channel.writeAndFlush(request, promise: nil)
                return reply.futureResult.always { _ in
                    timer.cancel()
                    channel.close(promise: nil)
                }
            }
            .flatMapErrorThrowing { error in
                if let message = (error as? RedisError)?.serverMessage, message.contains("cluster support disabled") {
                    throw RedisClusterReplyError("not in cluster mode (cluster-enabled no); use redis:// for a single server")
                }
                throw error
            }
            .flatMapThrowing { value in
                try RedisClusterTopology(clusterSlots: value, asked: node)
            }
    }
}
