extension PhoenixClient {
    /// Counters kept by a client, read with ``PhoenixClient/statistics``.
    public struct Statistics: Sendable, Hashable {
        /// WebSocket connections opened (first connect and reconnects).
        public var opens = 0
        /// Connections opened after the first one.
        public var reconnects = 0
        /// Reconnect attempts scheduled (successful or not).
        public var reconnectAttempts = 0
        /// Connection attempts that failed (refused, unreachable, handshake error).
        public var failedAttempts = 0
        /// Connections that closed after being open.
        public var closes = 0
        /// The close code of the last close frame the server sent, if any.
        public var lastServerCloseCode: UInt16?
        /// Heartbeats that got no reply before the next was due.
        public var heartbeatTimeouts = 0
        /// Data frames written.
        public var framesSent = 0
        /// Data frames received.
        public var framesReceived = 0
        /// Received frames the serializer could not decode.
        public var decodeErrors = 0
        /// Channel rejoins sent (after reconnects, errors and timeouts).
        public var rejoins = 0

        public init() {}
    }
}
