/// How the HTTP upgrade of one connection attempt ended, as the NIO typed
/// client upgrade handler reports it.
enum UpgradeOutcome: Sendable {
    /// `101 Switching Protocols`: the pipeline now speaks WebSocket.
    case upgraded
    /// Any other status: a ``RefusedUpgradeHandler`` collects the response.
    case notUpgraded
}
