import NIOCore

/// The connections a node keeps to one master of a Redis Cluster: one
/// sharded subscriber (`SSUBSCRIBE` of every wanted channel whose slot the
/// master serves) and the publisher connections (`SPUBLISH`), and the probe
/// that checks them. Their roles in the status board name the master:
/// `shard 10.0.0.5:7000 subscriber`.
struct RedisShard: Sendable {
    let address: RedisHostPort
    let subscriber: RedisSubscriber
    let publishers: [RedisPublisher]
    /// Sends through the first publisher and expects its probes back on the
    /// subscriber; its channel is set by ``RedisClusterShards``.
    let probe: RedisProbe

    /// The publisher of `topic`: always the same one, so a topic's broadcasts stay in order.
    func publisher(for topic: String) -> RedisPublisher {
        guard publishers.count > 1 else { return publishers[0] }
        var hasher = Hasher()
        hasher.combine(topic)
        return publishers[Int(UInt(bitPattern: hasher.finalize()) % UInt(publishers.count))]
    }

    /// Connects every connection, then starts the probe; fails with the first failure.
    func start() -> EventLoopFuture<Void> {
        let starts = publishers.map { $0.start() } + [subscriber.start()]
        return EventLoopFuture.whenAllComplete(starts, on: subscriber.eventLoop).flatMapThrowing { [probe] results in
            for case .failure(let error) in results {
                throw error
            }
            probe.start()
        }
    }

    /// Closes every connection for good.
    func shutdown() -> EventLoopFuture<Void> {
        let stops = [probe.stop()] + publishers.map { $0.shutdown() } + [subscriber.shutdown()]
        return EventLoopFuture.andAllComplete(stops, on: subscriber.eventLoop)
    }

    /// The board roles of this shard's connections.
    var roles: [String] {
        [subscriber.role] + publishers.map(\.role)
    }
}
