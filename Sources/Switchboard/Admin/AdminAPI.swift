import NIOHTTP1

/// The admin API's routes, independent of HTTP plumbing: each request (already
/// authorized) becomes a status and a JSON body.
struct AdminAPI: Sendable {
    let runtime: ServerRuntime

    /// Answers one authorized request.
    func handle(method: HTTPMethod, path: String, body: JSONValue?) async -> (HTTPResponseStatus, JSONValue) {
        switch (method, path) {
        case (.GET, "/stats"):
            return (.ok, await stats())
        case (.GET, "/cluster"):
            return (.ok, await cluster())
        case (.POST, "/rebalance"):
            return await rebalance(body ?? .object([:]))
        case (.POST, "/shed"):
            return await shed(body ?? .object([:]))
        case (.POST, "/drain"):
            return await drain(body ?? .object([:]))
        case (.POST, "/undrain"):
            guard runtime.undrain() else {
                return (.conflict, Self.error("the node is shutting down"))
            }
            return (.ok, ["status": "ok", "state": .string(runtime.operationalState)])
        case (.POST, "/disconnect"):
            guard let id = body?["id"]?.stringValue, !id.isEmpty else {
                return (.badRequest, Self.error("\"id\" must be a non-empty socket id"))
            }
            let closed = await runtime.disconnectEverywhere(socketID: id)
            return (.ok, ["status": "ok", "id": .string(id), "disconnected": .int(closed), "other_nodes_asked": .bool(true)])
        case (_, "/stats"), (_, "/cluster"), (_, "/shed"), (_, "/drain"), (_, "/undrain"), (_, "/rebalance"), (_, "/disconnect"),
             (_, "/metrics"):
            return (.methodNotAllowed, Self.error("method not allowed"))
        default:
            return (.notFound, Self.error("not found"))
        }
    }

    func stats() async -> JSONValue {
        let (since, window) = runtime.operations.withLock { ($0.drainingSince, $0.drainWindow) }
        var drain: JSONObject = ["draining": .bool(since != nil)]
        if let since {
            drain["elapsed_seconds"] = .double((ContinuousClock.now - since).inSeconds)
            drain["window_seconds"] = .double(window.inSeconds)
        }
        return [
            "node": .string(runtime.pubsub.nodeName),
            "version": .string(runtime.configuration.version),
            "uptime_seconds": .double((ContinuousClock.now - runtime.startedAt).inSeconds),
            "state": .string(runtime.operationalState),
            "accepting": .bool(runtime.isAcceptingSockets),
            "connections": .int(runtime.connectionCount),
            "longpoll_connections": .int(runtime.longPollSessionCount.load(ordering: .relaxed)),
            "channels": .int(await runtime.channelCount()),
            "topics": .int(runtime.pubsub.activeTopicCount),
            "pubsub": runtime.pubsub.adapterStatus.json,
            "drain": .object(drain),
            "shed": [
                "pending": .int(runtime.pendingSheds.load(ordering: .relaxed)),
                "total": .int(runtime.shedConnections.load(ordering: .relaxed)),
            ],
        ]
    }

    /// Every node heard from in the last five report intervals, this one included.
    func cluster() async -> JSONValue {
        let nodes = await runtime.clusterNodes()
        return [
            "node": .string(runtime.pubsub.nodeName),
            "nodes": .array(nodes.map(\.json)),
            "connections": .int(nodes.reduce(0) { $0 + $1.connections }),
        ]
    }

    private func rebalance(_ body: JSONValue) async -> (HTTPResponseStatus, JSONValue) {
        guard let tolerance = Self.fraction(body["tolerance"], default: 0.1) else {
            return (.badRequest, Self.error("\"tolerance\" must be a percentage such as \"10%\" or a fraction from 0 to 1"))
        }
        guard let window = Self.window(body["over"], default: .seconds(30)) else {
            return (.badRequest, Self.error("\"over\" must be a duration such as \"30s\""))
        }
        let plan = await runtime.rebalance(tolerance: tolerance, over: window)
        let nodes: [JSONValue] = plan.steps.map { step in
            ["node": .string(step.node), "connections": .int(step.connections), "shedding": .int(step.shed)]
        }
        return (.ok, [
            "status": "ok", "mean": .double(plan.mean), "tolerance": .double(plan.tolerance),
            "over_seconds": .double(window.inSeconds), "shedding": .int(plan.totalShed), "nodes": .array(nodes),
        ])
    }

    /// `"10%"`, `"0.1"` or `0.1`: a fraction from 0 to 1; `nil` when invalid.
    static func fraction(_ value: JSONValue?, default defaultFraction: Double) -> Double? {
        let fraction: Double?
        switch value {
        case nil, .null?: fraction = defaultFraction
        case .string(let text)? where text.hasSuffix("%"): fraction = Double(String(text.dropLast()).trimmingWhitespace()).map { $0 / 100 }
        case .string(let text)?: fraction = Double(text)
        case .int(let number)?: fraction = Double(number)
        case .double(let number)?: fraction = number
        default: fraction = nil
        }
        guard let fraction, fraction.isFinite, (0...1).contains(fraction) else { return nil }
        return fraction
    }

    private func shed(_ body: JSONValue) async -> (HTTPResponseStatus, JSONValue) {
        let amount: ShedAmount
        if let count = body["count"]?.intValue, count >= 0, body["percent"] == nil {
            amount = .count(count)
        } else if let percent = body["percent"]?.doubleValue, (0...100).contains(percent), body["count"] == nil {
            amount = .percent(percent)
        } else {
            return (.badRequest, Self.error("give either \"count\" (a whole number ≥ 0) or \"percent\" (0–100)"))
        }
        guard let window = Self.window(body["over"], default: .seconds(30)) else {
            return (.badRequest, Self.error("\"over\" must be a duration such as \"30s\", \"500ms\" or \"2m\""))
        }
        let count = await runtime.shed(amount, over: window, reason: "shed by operator")
        return (.ok, ["status": "ok", "shedding": .int(count), "over_seconds": .double(window.inSeconds)])
    }

    private func drain(_ body: JSONValue) async -> (HTTPResponseStatus, JSONValue) {
        guard let window = Self.window(body["over"], default: .seconds(60)) else {
            return (.badRequest, Self.error("\"over\" must be a duration such as \"60s\""))
        }
        let count = await runtime.drain(over: window)
        return (.ok, ["status": "ok", "shedding": .int(count), "over_seconds": .double(window.inSeconds), "state": .string(runtime.operationalState)])
    }

    /// `"30s"`-style strings or a number of seconds; `nil` when invalid.
    static func window(_ value: JSONValue?, default defaultWindow: Duration) -> Duration? {
        switch value {
        case nil, .null?: defaultWindow
        case .string(let text)?: Duration(settingText: text)
        case .int(let seconds)? where seconds >= 0: .seconds(seconds)
        case .double(let seconds)? where seconds >= 0 && seconds.isFinite: .milliseconds(Int64(seconds * 1000))
        default: nil
        }
    }

    static func error(_ message: String) -> JSONValue {
        ["error": .string(message)]
    }
}
