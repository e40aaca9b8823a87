/// The channels that `switchboard serve` offers out of the box, for
/// applications that publish from another language (through
/// `POST /api/broadcast`) and for the demo page.
///
/// ```swift
/// let server = SwitchboardServer(
///     configuration: ServerConfiguration(),
///     endpoints: [BuiltIn.endpoint()]
/// )
/// ```
public enum BuiltIn {
    /// Routes `room:*` to ``RoomChannel`` and `user:*` to ``UserChannel``.
    public static func router() -> ChannelRouter {
        var router = ChannelRouter()
        router.channel("room:*") { RoomChannel() }
        router.channel(UserChannel.topicPrefix + "*") { UserChannel() }
        return router
    }

    /// A socket endpoint at `path` with ``DemoSocket`` (every connection
    /// accepted, `user_id` taken from the params) and ``router()``.
    public static func endpoint(path: String = "/socket") -> SocketEndpoint {
        SocketEndpoint(path: path, socket: DemoSocket(), router: router())
    }
}
