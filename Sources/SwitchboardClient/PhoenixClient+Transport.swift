extension PhoenixClient {
    /// How a client reaches the server, as phoenix.js's `transport` option.
    public enum Transport: String, Sendable, Hashable, CustomStringConvertible {
        /// One WebSocket at `<path>` (the default).
        case webSocket
        /// HTTP long-polling at `<path>` with its `/websocket` suffix replaced
        /// by `/longpoll`, as Phoenix's `Phoenix.Transports.LongPoll` speaks it.
        case longPoll

        public var description: String { self.rawValue }
    }
}
