import NIOCore
import Testing
@testable import Switchboard

/// The pure parts of the cluster view, rebalancing and the automatic policies.
@Suite("Cluster planning")
struct ClusterPlanningTests {
    static func report(_ node: String, _ connections: Int, accepting: Bool = true) -> NodeReport {
        NodeReport(
            node: node, version: "1.0.0", connections: connections, channels: connections, topics: 3,
            state: accepting ? "serving" : "draining", accepting: accepting, pubsubState: "connected", uptimeSeconds: 12.5
        )
    }

    @Test func reportsSurviveTheirJSONForm() throws {
        let report = Self.report("node-a", 42)
        #expect(NodeReport(json: report.json) == report)
        let text = report.json.jsonString
        #expect(NodeReport(json: try JSONValue(parsing: text)) == report)
    }

    @Test("malformed reports are refused", arguments: [
        #"{}"#,
        #"{"node":"a","version":"1","connections":-1,"channels":0,"topics":0,"state":"serving","accepting":true,"pubsub_state":"connected","uptime_seconds":1}"#,
        #"{"node":"","version":"1","connections":1,"channels":0,"topics":0,"state":"serving","accepting":true,"pubsub_state":"connected","uptime_seconds":1}"#,
        #"{"node":"a","version":"1","connections":"1","channels":0,"topics":0,"state":"serving","accepting":true,"pubsub_state":"connected","uptime_seconds":1}"#,
        #"[1,2]"#,
    ])
    func malformedReports(_ text: String) throws {
        #expect(NodeReport(json: try JSONValue(parsing: text)) == nil)
    }

    @Test func anOldNodesReportWithoutAWireVersionReadsVersion1() throws {
        // As the release before wire versions wrote it.
        let old = #"{"node":"old","version":"0.9.0","connections":1,"channels":0,"topics":0,"state":"serving","accepting":true,"pubsub_state":"connected","uptime_seconds":1}"#
        let report = try #require(NodeReport(json: try JSONValue(parsing: old)))
        #expect(report.wireVersion == 1)
        var new = Self.report("new", 1)
        new.wireVersion = 2
        #expect(new.json["wire_version"] == .int(2))
        #expect(NodeReport(json: new.json)?.wireVersion == 2)
        // A wire version that is there must be a positive integer.
        guard case .object(var bad) = new.json else { Issue.record("a report is an object"); return }
        bad["wire_version"] = .int(0)
        #expect(NodeReport(json: .object(bad)) == nil)
        bad["wire_version"] = .string("2")
        #expect(NodeReport(json: .object(bad)) == nil)
    }

    @Test func aReportSaysHowManyOfItsConnectionsAreLongPolls() throws {
        var report = Self.report("node-a", 10)
        #expect(report.json["longpoll_connections"] == nil)
        #expect(NodeReport(json: report.json)?.longPollConnections == nil)
        report.longPollConnections = 3
        #expect(report.json["longpoll_connections"] == .int(3))
        #expect(NodeReport(json: report.json) == report)
        // More long-polls than connections, or not a number: refused.
        guard case .object(var bad) = report.json else { Issue.record("a report is an object"); return }
        bad["longpoll_connections"] = .int(11)
        #expect(NodeReport(json: .object(bad)) == nil)
        bad["longpoll_connections"] = .string("3")
        #expect(NodeReport(json: .object(bad)) == nil)
    }

    @Test func aReportListsItsAdapterConnections() throws {
        var report = Self.report("node-a", 10)
        #expect(report.json["pubsub_connections"] == nil)
        #expect(NodeReport(json: report.json)?.pubsubConnections == nil)
        report.pubsubConnections = [
            AdapterStatus.Connection(name: "shard 10.0.0.21:6379 subscriber", state: "connected"),
            AdapterStatus.Connection(name: "shard 10.0.0.22:6379 subscriber", state: "reconnecting"),
        ]
        #expect(NodeReport(json: report.json) == report)
        #expect(NodeReport(json: try JSONValue(parsing: report.json.jsonString)) == report)
        // Not a list of names and states: refused.
        guard case .object(var bad) = report.json else { Issue.record("a report is an object"); return }
        bad["pubsub_connections"] = [["name": "subscriber"]]
        #expect(NodeReport(json: .object(bad)) == nil)
        bad["pubsub_connections"] = .string("connected")
        #expect(NodeReport(json: .object(bad)) == nil)
    }

    @Test func theWireVersionWrittenIsTheLowestALivePeerReads() {
        let view = ClusterView(interval: .seconds(1))
        let start = ContinuousClock.now
        func report(_ node: String, wire: Int) -> NodeReport {
            var report = Self.report(node, 1)
            report.wireVersion = wire
            return report
        }
        // Alone: its own.
        view.record(report("self", wire: 2), at: start)
        #expect(view.lowestWireVersion(excluding: "self", at: start) == nil)
        #expect(ClusterView.wireVersionToWrite(own: 2, lowestPeer: nil) == 2)
        // A peer that reads only version 1 (an old node): version 1.
        view.record(report("old", wire: 1), at: start)
        view.record(report("new", wire: 2), at: start)
        let mixed = view.lowestWireVersion(excluding: "self", at: start)
        #expect(mixed == 1)
        #expect(ClusterView.wireVersionToWrite(own: 2, lowestPeer: mixed) == 1)
        // The old node gone (its report expired), all read version 2: version 2.
        let later = start + .seconds(4)
        view.record(report("new", wire: 2), at: later)
        view.record(report("self", wire: 2), at: later)
        let afterwards = later + .seconds(2)
        let allNew = view.lowestWireVersion(excluding: "self", at: afterwards)
        #expect(allNew == 2)
        #expect(ClusterView.wireVersionToWrite(own: 2, lowestPeer: allNew) == 2)
        // Never newer than its own.
        #expect(ClusterView.wireVersionToWrite(own: 1, lowestPeer: 3) == 1)
    }

    @Test func aNewNodeMakesTheOthersShedDownToTheMean() {
        let plan = RebalancePlan(nodes: [Self.report("a", 300), Self.report("b", 300), Self.report("c", 0)], tolerance: 0.1)
        #expect(plan.mean == 200)
        #expect(plan.steps.map(\.shed) == [100, 100, 0])
        #expect(plan.totalShed == 200)
    }

    @Test func nodesWithinTheToleranceDoNotShed() {
        let plan = RebalancePlan(nodes: [Self.report("a", 215), Self.report("b", 200), Self.report("c", 185)], tolerance: 0.1)
        #expect(plan.totalShed == 0)
        let strict = RebalancePlan(nodes: [Self.report("a", 215), Self.report("b", 200), Self.report("c", 185)], tolerance: 0)
        #expect(strict.steps.map(\.shed) == [15, 0, 0])
    }

    @Test func drainingNodesNeitherShedNorCount() {
        let plan = RebalancePlan(
            nodes: [Self.report("a", 100), Self.report("b", 500, accepting: false), Self.report("c", 20)], tolerance: 0.1
        )
        #expect(plan.mean == 60)
        #expect(plan.steps.map(\.node) == ["a", "c"])
        #expect(plan.steps.map(\.shed) == [40, 0])
        #expect(RebalancePlan(nodes: [], tolerance: 0.1).totalShed == 0)
    }

    @Test func theViewForgetsANodeAfterFiveMissedReports() {
        let view = ClusterView(interval: .seconds(1))
        let start = ContinuousClock.now
        view.record(Self.report("a", 1), at: start)
        view.record(Self.report("b", 2), at: start)
        #expect(view.nodes(at: start + .seconds(3)).map(\.node) == ["a", "b"])
        view.record(Self.report("b", 5), at: start + .seconds(4))
        #expect(view.nodes(at: start + .seconds(5)).map(\.connections) == [1, 5])
        #expect(view.nodes(at: start + .milliseconds(5600)).map(\.node) == ["b"])
        #expect(view.nodes(at: start + .seconds(10)).isEmpty)
    }

    @Test func ageLimitsSpreadOverTheJitterWindow() {
        let limit = ConnectionAgeLimit(age: .seconds(100))
        #expect(limit.jitter == .seconds(10))
        let opened = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let offsets = (0..<1000).map { seed in
            (limit.deadline(openedAt: opened, seed: UInt64(seed)) - opened).nanoseconds - 100_000_000_000
        }
        #expect(offsets.allSatisfy { abs($0) <= 10_000_000_000 })
        // Spread over the whole window, not bunched: both ends are reached.
        #expect(offsets.min()! < -8_000_000_000 && offsets.max()! > 8_000_000_000)
        #expect(limit.deadline(openedAt: opened, seed: 7) == limit.deadline(openedAt: opened, seed: 7))
        #expect(ConnectionAgeLimit(age: .seconds(10), jitter: .seconds(60)).jitter == .seconds(10))
    }

    @Test func theGuardWaitsForASustainedExcessThenShedsAtItsRateAndLetsGo() {
        var monitor = ResourceGuardMonitor(limits: ResourceGuard(maxConnections: 1000, sustain: .seconds(3), shedRate: 100))
        let start = ContinuousClock.now
        #expect(monitor.evaluate(connections: 900, residentBytes: 0, now: start) == .none)
        #expect(monitor.evaluate(connections: 1200, residentBytes: 0, now: start + .seconds(1)) == .none)
        // A dip resets the clock.
        #expect(monitor.evaluate(connections: 990, residentBytes: 0, now: start + .seconds(2)) == .none)
        #expect(monitor.evaluate(connections: 1200, residentBytes: 0, now: start + .seconds(3)) == .none)
        #expect(monitor.evaluate(connections: 1200, residentBytes: 0, now: start + .seconds(5)) == .none)
        #expect(monitor.evaluate(connections: 1200, residentBytes: 0, now: start + .seconds(6)) == .engage(shed: 100))
        #expect(monitor.evaluate(connections: 1100, residentBytes: 0, now: start + .seconds(7)) == .shed(100))
        // Down to the low-water mark (950), not just the threshold.
        #expect(monitor.evaluate(connections: 990, residentBytes: 0, now: start + .seconds(8)) == .shed(40))
        #expect(monitor.evaluate(connections: 950, residentBytes: 0, now: start + .seconds(9)) == .release)
        #expect(!monitor.engaged)
    }

    @Test func theGuardShedsAtItsRateWhileMemoryStaysHigh() {
        var monitor = ResourceGuardMonitor(limits: ResourceGuard(maxMemoryBytes: 1 << 30, sustain: .zero, shedRate: 50))
        let start = ContinuousClock.now
        #expect(monitor.evaluate(connections: 10, residentBytes: 2 << 30, now: start) == .engage(shed: 50))
        #expect(monitor.evaluate(connections: 10, residentBytes: 2 << 30, now: start + .seconds(1)) == .shed(50))
        #expect(monitor.evaluate(connections: 10, residentBytes: 1 << 29, now: start + .seconds(2)) == .release)
    }

    @Test("rebalance tolerances", arguments: [
        (JSONValue?.none, 0.1), (.string("10%"), 0.1), (.string("0%"), 0), (.string("25 %"), 0.25),
        (.string("0.2"), 0.2), (.double(0.3), 0.3), (.int(1), 1), (.int(0), 0),
    ])
    func tolerances(_ value: JSONValue?, _ expected: Double) {
        #expect(AdminAPI.fraction(value, default: 0.1) == expected)
    }

    @Test("bad rebalance tolerances", arguments: [
        JSONValue.string("110%"), .string("-1%"), .string("ten"), .int(5), .double(-0.1), .bool(true), .array([]),
    ])
    func badTolerances(_ value: JSONValue) {
        #expect(AdminAPI.fraction(value, default: 0.1) == nil)
    }
}
