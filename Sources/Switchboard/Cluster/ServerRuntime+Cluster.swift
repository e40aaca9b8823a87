import NIOCore

/// This node's part in the cluster: it sends its ``NodeReport`` to the other
/// nodes every interval, keeps every node's last report (``ClusterView``),
/// and carries out the commands other nodes send it (`shed` for a
/// rebalance, `disconnect` of a socket id). All of them are control
/// messages (``ControlMessage``), which the adapter keeps apart from topics.
///
/// Commands travel through the PubSub adapter, so whoever may publish on it
/// (Redis access) may send them: the same trust as Phoenix's PubSub.
///
/// The reports also choose the adapter's wire version: each says which
/// version its node reads at most (`wire_version`, 1 when absent), and the
/// adapter is told the lowest among the live peers
/// (``PubSubAdapter/peersRead(wireVersion:)``). A report of an older peer
/// lowers it as soon as it arrives; a newer version is only chosen from the
/// second interval on, once every live peer has been heard from, and once
/// the older peers' reports have expired (``ClusterView/missedReportsToForget``).
extension ServerRuntime {
    private enum ClusterEvent {
        static let report = "report"
        static let shed = "shed"
        static let disconnect = "disconnect"
    }

    /// Hands the control messages of `event` to `handler` (on an event loop;
    /// keep it short): how a part of the server (a transport) talks to the
    /// same part on other nodes.
    func handleControl(event: String, _ handler: @escaping @Sendable (ControlMessage) -> Void) {
        controlHandlers.withLock { $0[event] = handler }
    }

    /// Listens to the other nodes and starts reporting.
    func startCluster() async {
        pubsub.joinCluster { [self] message in
            self.receiveClusterMessage(message)
        }
        let interval = configuration.clusterReportInterval
        let reporter = Task { [self] in
            // This node's own report is recorded at once; others hear of it after one interval.
            self.clusterView.record(await self.currentReport())
            var intervals = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled else { return }
                await self.publishReport()
                intervals += 1
                if intervals >= 2 {
                    self.updateWireVersion()
                }
            }
        }
        clusterReporter.withLock { $0 = reporter }
    }

    /// Stops reporting and listening. Waits for a report being made to
    /// finish: it counts channels on the loops, which stop next.
    func stopCluster() async {
        guard let reporter = clusterReporter.withLock({ state in defer { state = nil }; return state }) else { return }
        reporter.cancel()
        await reporter.value
        pubsub.leaveCluster()
    }

    /// This node's counts now.
    func currentReport() async -> NodeReport {
        let connections = connectionCount
        let adapter = pubsub.adapterStatus
        return NodeReport(
            node: pubsub.nodeName,
            version: configuration.version,
            connections: connections,
            channels: await channelCount(),
            topics: pubsub.activeTopicCount,
            state: operationalState,
            accepting: isAcceptingSockets,
            pubsubState: adapter.state,
            uptimeSeconds: (ContinuousClock.now - startedAt).inSeconds,
            wireVersion: pubsub.wireVersion,
            // Counted apart from `connections`: never more than it in a report.
            longPollConnections: min(longPollSessionCount.load(ordering: .relaxed), connections),
            pubsubConnections: adapter.connections.map { AdapterStatus.Connection(name: $0.name, state: $0.state) }
        )
    }

    /// Tells the adapter the lowest wire version that this node and its live peers read.
    private func updateWireVersion() {
        let own = pubsub.wireVersion
        let peers = clusterView.lowestWireVersion(excluding: pubsub.nodeName)
        pubsub.peersRead(wireVersion: ClusterView.wireVersionToWrite(own: own, lowestPeer: peers))
    }

    private func publishReport() async {
        let report = await currentReport()
        clusterView.record(report)
        do {
            try await pubsub.sendControl(event: ClusterEvent.report, payload: report.json)
        } catch {
            // Other nodes hear from this one again next interval.
            logger.debug("cluster report not published", metadata: ["error": "\(error)"])
        }
    }

    /// Handles a message on the cluster topic (on an event loop: stays short).
    private func receiveClusterMessage(_ message: ControlMessage) {
        let payload = message.payload
        switch message.event {
        case ClusterEvent.report:
            guard let report = NodeReport(json: payload) else {
                logger.warning("ignoring a malformed cluster report", metadata: ["from": "\(message.originNode)"])
                return
            }
            clusterView.record(report)
            if report.wireVersion < pubsub.wireVersion, report.node != pubsub.nodeName {
                // An older peer: write what it reads from now on.
                updateWireVersion()
            }
        case ClusterEvent.shed:
            guard let count = payload["count"]?.intValue, count >= 0,
                  let milliseconds = payload["over_ms"]?.intValue, milliseconds >= 0
            else {
                logger.warning("ignoring a malformed shed command", metadata: ["from": "\(message.originNode)"])
                return
            }
            logger.notice("rebalance requested by another node", metadata: ["from": "\(message.originNode)", "count": "\(count)"])
            Task { await self.shed(.count(count), over: .milliseconds(milliseconds), reason: "rebalancing the cluster", metricReason: "rebalance") }
        case ClusterEvent.disconnect:
            guard let id = payload["id"]?.stringValue, !id.isEmpty else {
                logger.warning("ignoring a malformed disconnect command", metadata: ["from": "\(message.originNode)"])
                return
            }
            Task { await self.disconnect(socketID: id) }
        default:
            if let handler = controlHandlers.withLock({ $0[message.event] }) {
                handler(message)
                return
            }
            logger.warning("ignoring an unknown cluster event", metadata: ["event": "\(message.event)", "from": "\(message.originNode)"])
        }
    }

    /// Every node of the cluster view, with this node's report fresh (the
    /// others' are at most one interval old), sorted by name.
    func clusterNodes() async -> [NodeReport] {
        let own = await currentReport()
        return (clusterView.nodes().filter { $0.node != own.node } + [own]).sorted { $0.node < $1.node }
    }

    /// Asks every serving node above the mean by more than `tolerance` to
    /// shed its excess over `window`, from the cluster view. Returns the plan.
    func rebalance(tolerance: Double, over window: Duration) async -> RebalancePlan {
        let plan = RebalancePlan(nodes: await clusterNodes(), tolerance: tolerance)
        logger.notice("rebalancing", metadata: [
            "mean": "\(plan.mean)", "shedding": "\(plan.totalShed)", "over": "\(window)",
            "nodes": "\(plan.steps.map { "\($0.node)=\($0.connections)-\($0.shed)" }.joined(separator: " "))",
        ])
        for step in plan.steps where step.shed > 0 {
            if step.node == pubsub.nodeName {
                await shed(.count(step.shed), over: window, reason: "rebalancing the cluster", metricReason: "rebalance")
                continue
            }
            let command: JSONValue = ["count": .int(step.shed), "over_ms": .int(Int(window.inSeconds * 1000))]
            do {
                try await pubsub.sendControl(event: ClusterEvent.shed, payload: command, to: step.node)
            } catch {
                logger.error("rebalance command not sent", metadata: ["node": "\(step.node)", "error": "\(error)"])
            }
        }
        return plan
    }

    /// Closes every socket whose id is `socketID` on this node, and asks
    /// every other node to do the same. Returns how many closed here.
    func disconnectEverywhere(socketID: String) async -> Int {
        let closed = await disconnect(socketID: socketID)
        do {
            try await pubsub.sendControl(event: ClusterEvent.disconnect, payload: ["id": .string(socketID)])
        } catch {
            logger.error("disconnect not sent to other nodes", metadata: ["socket_id": "\(socketID)", "error": "\(error)"])
        }
        return closed
    }
}
