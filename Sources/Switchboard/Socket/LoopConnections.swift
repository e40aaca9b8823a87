/// The sockets of one event loop, for what concerns them all (shedding,
/// draining, shutdown, connection age) and the counts behind health and
/// metrics. Runs on its loop only.
struct LoopConnections {
    private(set) var all: [ObjectIdentifier: SocketConnection] = [:]
    /// Joined or joining channels of these sockets, kept by them.
    var channelCount = 0

    mutating func register(_ connection: SocketConnection) {
        all[ObjectIdentifier(connection)] = connection
    }

    mutating func unregister(_ connection: SocketConnection) {
        all[ObjectIdentifier(connection)] = nil
    }
}
