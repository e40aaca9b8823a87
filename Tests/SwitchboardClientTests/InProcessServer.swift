import Switchboard

/// Runs `body` with an in-process ``SwitchboardServer`` serving `endpoint`
/// on a free loopback port (one event loop), and shuts it down after,
/// whether `body` threw or not.
func withInProcessServer(_ endpoint: SocketEndpoint, _ body: (SwitchboardServer) async throws -> Void) async throws {
    var configuration = ServerConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.eventLoopThreads = 1
    configuration.shutdownGracePeriod = .seconds(1)
    let server = SwitchboardServer(configuration: configuration, endpoints: [endpoint])
    try await server.start()
    do {
        try await body(server)
    } catch {
        await server.shutdown()
        throw error
    }
    await server.shutdown()
}
