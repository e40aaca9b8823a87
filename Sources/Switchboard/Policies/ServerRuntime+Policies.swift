import NIOCore

/// The automatic policies (``ConnectionAgeLimit``, ``ResourceGuard``) and
/// the once-a-second sampling of the PubSub adapter's counters and of the
/// gauges into metrics.
extension ServerRuntime {
    /// Schedules the policies' repeated tasks on the event loops.
    func startPolicies() {
        var tasks: [RepeatedTask] = []
        if let limit = configuration.maxConnectionAge {
            for dispatcher in dispatchers {
                tasks.append(dispatcher.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
                    self.shedConnectionsOlderThan(limit, on: dispatcher)
                })
            }
        }
        let state = HousekeepingState(monitor: configuration.resourceGuard.map(ResourceGuardMonitor.init))
        tasks.append(dispatchers[0].eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let counters = self.pubsub.adapterCounters
            self.metrics.add(counters.since(state.lastCounters))
            state.lastCounters = counters
            // After the previous recording, so the one awaited at shutdown is the last.
            self.gaugeRecording.withLock { last in
                let previous = last
                last = Task {
                    await previous?.value
                    await self.recordGauges()
                }
            }
            if state.monitor != nil { self.guardResources(&state.monitor!) }
        })
        policyTasks.withLock { $0 = tasks }
    }

    /// Records the connection, channel and topic counts, the node's state
    /// and the adapter's in their gauges.
    func recordGauges() async {
        metrics.connections.record(connectionCount)
        metrics.longPollSessions.record(longPollSessionCount.load(ordering: .relaxed))
        metrics.channels.record(await channelCount())
        metrics.topics.record(pubsub.activeTopicCount)
        metrics.nodeState(operationalState)
        metrics.pubsub(pubsub.adapterStatus)
    }

    /// Cancels the repeated tasks and waits for a run in progress and the
    /// gauge recording it started: that counts channels on the loops, which
    /// stop later in the shutdown.
    func stopPolicies() async {
        for task in policyTasks.withLock({ tasks in defer { tasks = [] }; return tasks }) {
            let cancelled = dispatchers[0].eventLoop.makePromise(of: Void.self)
            task.cancel(promise: cancelled)
            try? await cancelled.futureResult.get()
        }
        await gaugeRecording.withLock { $0 }?.value
    }

    /// Closes this loop's connections past their age limit. On `dispatcher`'s loop.
    private func shedConnectionsOlderThan(_ limit: ConnectionAgeLimit, on dispatcher: LoopDispatcher) {
        let now = NIODeadline.now()
        for (id, connection) in dispatcher.connections.all where connection.isOpen {
            let seed = UInt64(UInt(bitPattern: id.hashValue)) ^ connection.openedAt.uptimeNanoseconds
            guard limit.deadline(openedAt: connection.openedAt, seed: seed) <= now else { continue }
            shedConnections.add(1, ordering: .relaxed)
            metrics.shed("max_age")
            connection.close(.serviceRestart(detail: "connection age limit"))
        }
    }

    /// One resource guard sample. On the housekeeping loop.
    private func guardResources(_ monitor: inout ResourceGuardMonitor) {
        if monitor.engaged { ResidentMemory.releaseFreeMemory() }
        let resident = ResidentMemory.current() ?? 0
        let decision = monitor.evaluate(connections: connectionCount, residentBytes: resident, now: .now)
        let toShed: Int
        switch decision {
        case .none:
            return
        case .engage(let count):
            resourceGuardEngaged.store(true, ordering: .relaxed)
            logger.warning("resource guard engaged: refusing new connections and shedding", metadata: [
                "connections": "\(connectionCount)", "resident_bytes": "\(resident)",
                "max_connections": "\(monitor.limits.maxConnections.map(String.init) ?? "-")",
                "max_memory_bytes": "\(monitor.limits.maxMemoryBytes.map(String.init) ?? "-")",
            ])
            toShed = count
        case .shed(let count):
            toShed = count
        case .release:
            resourceGuardEngaged.store(false, ordering: .relaxed)
            logger.notice("resource guard released: accepting connections again", metadata: [
                "connections": "\(connectionCount)", "resident_bytes": "\(resident)",
            ])
            return
        }
        guard toShed > 0 else { return }
        Task { await self.shed(.count(toShed), over: .seconds(1), reason: "node over its resource limits", metricReason: "resource_guard") }
    }
}

/// What the once-a-second housekeeping task remembers between runs; touched
/// only on the first event loop, where that task runs.
private final class HousekeepingState: @unchecked Sendable {
    var monitor: ResourceGuardMonitor?
    var lastCounters = PubSubAdapterCounters()

    init(monitor: ResourceGuardMonitor?) {
        self.monitor = monitor
    }
}
