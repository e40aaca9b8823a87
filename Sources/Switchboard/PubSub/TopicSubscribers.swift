/// The local subscribers of one topic on one event loop: a dense array for
/// fast iteration, with O(1) removal by swapping in the last element.
struct TopicSubscribers {
    private(set) var subscribers: [LocalSubscriber] = []
    private var indexByID: [SubscriberID: Int] = [:]
    /// How many subscribers intercept at least one event (fastlane skip check).
    private(set) var interceptingCount = 0

    var isEmpty: Bool { subscribers.isEmpty }
    var count: Int { subscribers.count }

    mutating func insert(_ subscriber: LocalSubscriber) {
        if let index = indexByID[subscriber.id] {
            subscribers[index] = subscriber
            return
        }
        indexByID[subscriber.id] = subscribers.count
        subscribers.append(subscriber)
    }

    @discardableResult
    mutating func remove(_ id: SubscriberID) -> Bool {
        guard let index = indexByID.removeValue(forKey: id) else { return false }
        let last = subscribers.removeLast()
        if index < subscribers.count {
            subscribers[index] = last
            indexByID[last.id] = index
        }
        return true
    }
}

/// One subscriber as the dispatcher sees it.
struct LocalSubscriber {
    enum Target {
        /// A joined channel instance: fastlane writes to its connection,
        /// intercepted events go through its mailbox.
        case channel(ChannelInstance)
        /// Application code subscribed through ``PubSub/subscribe(_:handler:)``.
        case handler(@Sendable (PubSubMessage) -> Void)
    }

    var id: SubscriberID
    var target: Target
}
