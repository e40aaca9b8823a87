extension PhoenixClient {
    /// Counters kept by a client, read with ``PhoenixClient/statistics``.
    public struct Statistics: Sendable, Hashable {
        /// Connections opened (first connect and reconnects).
        public var opens = 0
        /// Connections opened after the first one.
        public var reconnects = 0
        /// Reconnect attempts scheduled (successful or not).
        public var reconnectAttempts = 0
        /// Connection attempts that failed (refused, unreachable, handshake error).
        public var failedAttempts = 0
        /// Connections that closed after being open.
        public var closes = 0
        /// The close code of the last close frame the server sent, or the code
        /// the last long-poll session ended with (see ``CloseInfo/code``), if any.
        public var lastServerCloseCode: UInt16?
        /// Heartbeats that got no reply before the next was due.
        public var heartbeatTimeouts = 0
        /// Messages sent (WebSocket data frames, lines of long-poll POSTs).
        public var framesSent = 0
        /// Messages received (WebSocket data frames, messages of long-poll answers).
        public var framesReceived = 0
        /// Received messages the serializer could not decode.
        public var decodeErrors = 0
        /// Channel rejoins sent (after reconnects, errors and timeouts).
        public var rejoins = 0
        /// The transport the client connects with now (it changes from
        /// `.webSocket` to `.longPoll` when the fallback rule gives up on the
        /// WebSocket).
        public var transport = Transport.webSocket
        /// Times the client fell back from WebSocket to long-poll (0 or 1).
        public var longPollFallbacks = 0

        public init() {}
    }
}
