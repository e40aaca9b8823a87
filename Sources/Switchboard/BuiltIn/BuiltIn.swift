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
    /// Routes `room:*` to ``RoomChannel`` (``PresenceRoomChannel`` with
    /// `presence`) and `user:*` to ``UserChannel``.
    public static func router(presence: Bool = false) -> ChannelRouter {
        var router = ChannelRouter()
        if presence {
            router.channel("room:*") { PresenceRoomChannel() }
        } else {
            router.channel("room:*") { RoomChannel() }
        }
        router.channel(UserChannel.topicPrefix + "*") { UserChannel() }
        return router
    }

    /// A socket endpoint at `path` with ``DemoSocket`` (every connection
    /// accepted, `user_id` taken from the params) and ``router(presence:)``.
    public static func endpoint(path: String = "/socket", presence: Bool = false) -> SocketEndpoint {
        SocketEndpoint(path: path, socket: DemoSocket(), router: router(presence: presence))
    }
}
