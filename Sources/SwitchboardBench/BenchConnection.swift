import NIOCore
import Synchronization
import SwitchboardClient

/// One bench connection: a client and the channel it joined.
struct BenchConnection: Sendable {
    let index: Int
    let client: PhoenixClient
    let channel: ClientChannel

    var eventLoop: any EventLoop { self.client.eventLoop }

    /// Connects and joins; `prepare` runs before the connect (bind `on`
    /// callbacks there, so no message is missed). Returns the connection, or
    /// the failure's kind (see ``FailureKind``); a failed join is disconnected.
    static func open(
        index: Int,
        configuration: PhoenixClient.Configuration,
        topic: String,
        joinTimeout: TimeAmount,
        prepare: @Sendable (PhoenixClient, ClientChannel) -> Void
    ) async -> Result<BenchConnection, BenchFailure> {
        let client = PhoenixClient(configuration: configuration)
        let channel = client.channel(topic)
        prepare(client, channel)
        // The client bounds the TCP connect, not the HTTP upgrade after it:
        // a server that accepts and never answers would hold the bench forever.
        let watchdog = HandshakeWatchdog()
        let timer = client.eventLoop.scheduleTask(in: configuration.connectTimeout + joinTimeout) {
            watchdog.fired.store(true, ordering: .relaxed)
            Task { await client.disconnect() }
        }
        do {
            try await client.connect()
            timer.cancel()
        } catch {
            timer.cancel()
            let kind = watchdog.fired.load(ordering: .relaxed) ? "handshake_timeout" : FailureKind.of(error, stage: "connect")
            return .failure(BenchFailure(kind: kind))
        }
        do {
            _ = try await channel.join(timeout: joinTimeout)
        } catch {
            await client.disconnect()
            return .failure(BenchFailure(kind: FailureKind.of(error, stage: "join")))
        }
        return .success(BenchConnection(index: index, client: client, channel: channel))
    }
}

/// Set when a connection attempt was abandoned because its handshake took too long.
final class HandshakeWatchdog: Sendable {
    let fired = Atomic<Bool>(false)
}
