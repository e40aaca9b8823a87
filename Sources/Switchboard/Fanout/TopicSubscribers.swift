/// The local subscribers of one topic on one event loop: a dense array for
/// fast iteration, with O(1) removal by swapping in the last element.
struct TopicSubscribers {
    private(set) var subscribers: [LocalSubscriber] = []
    private var indexByID: [SubscriberID: Int] = [:]

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
package struct LocalSubscriber {
    enum Target {
        /// A joined channel instance that intercepts no event: broadcasts are
        /// written straight to its connection, without touching the instance.
        case fastlane(SocketConnection)
        /// A joined channel instance that intercepts some events: those go
        /// through its mailbox (`handleOut`), the others to its connection.
        case intercepting(ChannelInstance)
        /// Application code subscribed through ``PubSub/subscribe(_:handler:)``.
        case handler(@Sendable (PubSubMessage) -> Void)
    }

    var id: SubscriberID
    var target: Target

    /// The connection a fastlane subscriber writes to.
    var fastlaneConnection: SocketConnection? {
        if case .fastlane(let connection) = target { connection } else { nil }
    }

    /// The subscriber for a joined channel instance.
    package static func channel(_ instance: ChannelInstance) -> LocalSubscriber {
        LocalSubscriber(id: instance.id, target: instance.intercepts.isEmpty ? .fastlane(instance.connection) : .intercepting(instance))
    }
}
