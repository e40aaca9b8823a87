extension PhoenixClient {
    /// How a connection ended.
    public struct CloseInfo: Sendable, Hashable, CustomStringConvertible {
        /// The close code in the server's close frame (`1012` for a shed or
        /// drained connection, `1000` for a normal close); `nil` when the
        /// connection ended without a close frame from the server.
        ///
        /// Over long-poll, the code phoenix.js's LongPoll closes with: `3410`
        /// session gone, `1008` forbidden, `1011` server error or no answer,
        /// `1005` request timeout, or the code given to
        /// ``PhoenixClient/disconnect(code:reason:)``.
        public var code: UInt16?
        /// The reason text of the server's close frame, empty without one.
        public var reason: String
        /// Whether the client started the close (``PhoenixClient/disconnect(code:reason:)``
        /// or a heartbeat timeout).
        public var initiatedLocally: Bool
        /// Whether the client schedules a reconnect after this close.
        public var willReconnect: Bool

        public init(code: UInt16?, reason: String, initiatedLocally: Bool, willReconnect: Bool) {
            self.code = code
            self.reason = reason
            self.initiatedLocally = initiatedLocally
            self.willReconnect = willReconnect
        }

        public var description: String {
            let code = self.code.map(String.init) ?? "none"
            return "close(code: \(code), reason: \"\(self.reason)\", local: \(self.initiatedLocally), reconnect: \(self.willReconnect))"
        }
    }
}
