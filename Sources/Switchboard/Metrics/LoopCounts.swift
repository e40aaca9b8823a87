/// Fast-path counts of one event loop since they were last published to
/// ``ServerMetrics``: plain integers, touched only on that loop.
struct LoopCounts: Sendable {
    var messagesIn = 0
    var framesOut = 0
    var deliveries = 0
    /// Broadcasts fanned out on this loop's subscribers; counted by the first
    /// loop only, so each broadcast reaching the node counts once.
    var broadcasts = 0
    /// Sockets closed because their client read too slowly.
    var slowConsumerCloses = 0
}
