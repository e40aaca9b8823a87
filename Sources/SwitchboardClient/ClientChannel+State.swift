extension ClientChannel {
    /// A channel's state, as phoenix.js's `CHANNEL_STATES`.
    public enum State: Sendable, Hashable {
        /// Not joined: never joined, left, refused or closed by the server.
        case closed
        /// A `phx_join` is on its way.
        case joining
        /// The server accepted the join.
        case joined
        /// A `phx_leave` is on its way.
        case leaving
        /// The connection closed or the server reported `phx_error`; the channel
        /// rejoins when the socket opens or after the rejoin backoff.
        case errored
    }
}
