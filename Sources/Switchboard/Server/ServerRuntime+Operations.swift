import NIOCore

/// Shedding, draining and disconnecting this node's connections, as the admin
/// API and a graceful shutdown ask for them.
extension ServerRuntime {
    /// Every open connection, gathered from the loops that own them.
    func openConnections() async -> [SocketConnection] {
        var all: [SocketConnection] = []
        for dispatcher in dispatchers {
            let connections = try? await dispatcher.eventLoop.submit {
                dispatcher.connections.all.values.filter { $0.isOpen && $0.transport.isActive }
            }.get()
            all += connections ?? []
        }
        return all
    }

    /// Joined channels across every connection.
    func channelCount() async -> Int {
        var total = 0
        for dispatcher in dispatchers {
            total += (try? await dispatcher.eventLoop.submit {
                dispatcher.connections.channelCount
            }.get()) ?? 0
        }
        return total
    }

    /// Closes `amount` connections chosen at random with code 1012, spread
    /// evenly over `window` (the first at once). Returns how many will be shed.
    @discardableResult
    func shed(_ amount: ShedAmount, over window: Duration, reason: String, metricReason: String = "operator", drainEpoch: Int? = nil) async -> Int {
        let open = await openConnections()
        let count = amount.resolve(against: open.count)
        let chosen = open.shuffled().prefix(count)
        let step = count > 0 ? window / count : .zero
        for (index, connection) in chosen.enumerated() {
            pendingSheds.add(1, ordering: .relaxed)
            connection.eventLoop.scheduleTask(in: TimeAmount(step * index)) {
                self.pendingSheds.subtract(1, ordering: .relaxed)
                if let drainEpoch, self.operations.withLock({ $0.drainEpoch }) != drainEpoch { return }
                guard connection.isOpen, connection.transport.isActive else { return }
                self.shedConnections.add(1, ordering: .relaxed)
                self.metrics.shed(metricReason)
                connection.close(.serviceRestart(detail: reason))
            }
        }
        if count > 0 {
            logger.notice("shedding connections", metadata: [
                "count": "\(count)", "over": "\(window)", "reason": "\(reason)",
            ])
        }
        return count
    }

    /// Stops accepting sockets (`/readyz` fails, upgrades get 503) and sheds
    /// every connection over `window`; a last sweep at the end of the window
    /// closes any that slipped in meanwhile. Returns how many will be shed.
    @discardableResult
    func drain(over window: Duration) async -> Int {
        stopAcceptingSockets()
        let epoch = operations.withLock { state in
            state.drainEpoch += 1
            state.drainingSince = .now
            state.drainWindow = window
            return state.drainEpoch
        }
        logger.notice("draining", metadata: ["over": "\(window)"])
        let metricReason = operations.withLock { $0.shuttingDown } ? "shutdown" : "drain"
        let count = await shed(.all, over: window, reason: "node draining", metricReason: metricReason, drainEpoch: epoch)
        let sweep = dispatchers.first!.eventLoop
        sweep.scheduleTask(in: TimeAmount(window)) {
            guard self.operations.withLock({ $0.drainEpoch }) == epoch else { return }
            for dispatcher in self.dispatchers {
                dispatcher.eventLoop.execute {
                    for connection in dispatcher.connections.all.values where connection.isOpen {
                        self.shedConnections.add(1, ordering: .relaxed)
                        self.metrics.shed(metricReason)
                        connection.close(.serviceRestart(detail: "node draining"))
                    }
                }
            }
        }
        return count
    }

    /// Ends a drain: accepts sockets again and cancels the drain's pending
    /// closes. Returns false once shutdown has begun.
    @discardableResult
    func undrain() -> Bool {
        let reopened = operations.withLock { state -> Bool in
            guard !state.shuttingDown else { return false }
            state.drainEpoch += 1
            state.drainingSince = nil
            return true
        }
        if reopened {
            resumeAcceptingSockets()
            logger.notice("undrained: accepting connections again")
        }
        return reopened
    }

    /// Marks shutdown begun, so an undrain cannot reopen the node.
    func beginShutdown() {
        operations.withLock { $0.shuttingDown = true }
        stopAcceptingSockets()
    }

    /// Closes every local socket whose id is `socketID` with code 1001.
    /// Returns how many were closed.
    func disconnect(socketID: String) async -> Int {
        var closed = 0
        for dispatcher in dispatchers {
            closed += (try? await dispatcher.eventLoop.submit {
                var count = 0
                for connection in dispatcher.connections.all.values where connection.isOpen && connection.socketID == socketID {
                    connection.close(.disconnected)
                    count += 1
                }
                return count
            }.get()) ?? 0
        }
        if closed > 0 {
            logger.notice("disconnected socket id", metadata: ["socket_id": "\(socketID)", "connections": "\(closed)"])
        }
        return closed
    }

    /// `serving`, `guarded` (the resource guard refuses connections),
    /// `draining`, `drained` once a drain has no connection left, or `stopping`.
    var operationalState: String {
        guard operations.withLock({ $0.drainingSince }) != nil else {
            if resourceGuardEngaged.load(ordering: .relaxed) { return "guarded" }
            return isAcceptingSockets ? "serving" : "stopping"
        }
        return connectionCount == 0 ? "drained" : "draining"
    }
}
