import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP proxy to Redis that can go silent: ``silenceExisting()``
/// drops everything Redis sends on the connections open at that moment,
/// while they stay connected — as a connection left behind by a failover.
/// Connections made afterwards work normally.
final class TestProxy: Sendable {
    let port: Int
    private let channel: any Channel
    private let state: State

    private final class State: Sendable {
        let nextID = Atomic<Int>(0)
        let silencedBelow = Atomic<Int>(0)
    }

    init(targetPort: Int) async throws {
        let state = State()
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                let id = state.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
                return ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMapThrowing { outbound in
                        try inbound.pipeline.syncOperations.addHandler(Forward(peer: outbound, drop: { false }))
                        try outbound.pipeline.syncOperations.addHandler(Forward(peer: inbound, drop: {
                            id < state.silencedBelow.load(ordering: .relaxed)
                        }))
                    }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        port = channel.localAddress!.port!
        self.state = state
    }

    /// Redis's bytes to the connections open now are dropped from here on.
    func silenceExisting() {
        state.silencedBelow.store(state.nextID.load(ordering: .relaxed), ordering: .relaxed)
    }

    func close() async {
        try? await channel.close()
    }

    /// Copies what one side reads to the other, unless `drop` says otherwise.
    private final class Forward: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let peer: any Channel
        let drop: @Sendable () -> Bool

        init(peer: any Channel, drop: @escaping @Sendable () -> Bool) {
            self.peer = peer
            self.drop = drop
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !drop() else { return }
            peer.writeAndFlush(unwrapInboundIn(data), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            peer.close(promise: nil)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
