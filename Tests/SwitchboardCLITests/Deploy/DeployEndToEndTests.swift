#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// The deploy kit end to end, with real processes: redis-server, haproxy with
/// the root haproxy.cfg, three blue and three green instances installed by
/// the deploy scripts from release tarballs, and 1,500 clients (300 of them on long-poll)
/// (`switchboard bench watch`) on 50 topics under publish load through every
/// deploy: their publishers' `shout`s, and a backend's `POST /api/broadcast`
/// through HAProxy on keep-alive connections (``HTTPPublisher``).
@Suite("Deploy end to end", .serialized)
struct DeployEndToEndTests {
    static let clients = 1500
    /// Of them, on long-poll (the rest on WebSocket).
    static let longPollClients = 300
    static let topics = 50
    static let publishers = 10
    /// Shouts per second per topic by the watch's own publishers.
    static let shoutRate = 10
    /// Broadcasts per second per topic by the HTTP publisher.
    static let httpPublishRate = 5.0
    static let rollingDrain = 5
    static let blueGreenDrain = 20

    /// Run twice: without presence, and with presence on every room, where
    /// each client's list must also stay exact through every deploy.
    @Test("rolling, failed and blue-green deploys under load lose no client", .timeLimit(.minutes(10)), arguments: [false, true])
    func deploys(presence: Bool) async throws {
        let cluster = try await DeployTestCluster.start(presence: presence)
        defer { cluster.tearDown() }
        var rows: [PhaseRow] = []
        defer { print(PhaseRow.table(rows, presence: presence)) }

        // Bootstrap: version N on blue, installed by deploy/rolling.
        let bootstrap = try await cluster.deploy("rolling", cluster.tarball("e2e-1"))
        try #require(bootstrap.status == 0, "bootstrap deploy/rolling failed:\n\(bootstrap.stdout)\(bootstrap.stderr)")

        // (a) rolling deploy to N+1, with a rebalance at the end.
        do {
            let watch = try await cluster.startWatch(phase: "rolling")
            let publisher = Self.startPublisher(cluster)
            let result = try await cluster.deploy("rolling", cluster.tarball("e2e-2"), drain: Self.rollingDrain)
            #expect(result.status == 0, "deploy/rolling to e2e-2 failed:\n\(result.stdout)\(result.stderr)")
            let counts = try await cluster.connections(of: "blue")
            let published = await publisher.stop()
            let report = try await cluster.finish(watch)
            rows.append(PhaseRow(phase: "a rolling N+1", counts: counts, report: report, seconds: result.seconds, published: published))
            Self.expectAnswered(published, phase: "rolling")
            for name in cluster.names(of: "blue") {
                #expect(try await cluster.version(of: name) == "e2e-2", "\(name) runs e2e-2")
            }
            Self.expectBalanced(counts, phase: "rolling")
            Self.expectNoLoss(report, phase: "rolling", presence: presence)
        }

        // (c) a release whose server exits at start: its trial start fails, so
        // the deploy aborts before any instance is drained; N+1 keeps serving.
        do {
            let watch = try await cluster.startWatch(phase: "failed")
            let publisher = Self.startPublisher(cluster)
            let result = try await cluster.deploy("rolling", cluster.tarball("e2e-bad"), drain: Self.rollingDrain)
            #expect(result.status != 0, "deploy/rolling of a broken release must fail")
            #expect(result.stderr.contains("deploy aborted"), "a clear message:\n\(result.stderr)")
            for name in cluster.names(of: "blue") {
                #expect(try await cluster.version(of: name) == "e2e-2", "\(name) still runs e2e-2")
                #expect(cluster.currentRelease(of: name) == "e2e-2", "\(name)'s current release is e2e-2")
            }
            let counts = try await cluster.connections(of: "blue")
            let published = await publisher.stop()
            let report = try await cluster.finish(watch)
            #expect(result.stderr.contains("no instance was touched"), "aborted at the trial start:\n\(result.stderr)")
            #expect(report["reconnects"].int("total") == 0, "no client was moved by a failed deploy")
            rows.append(PhaseRow(phase: "c failed deploy", counts: counts, report: report, seconds: result.seconds, published: published))
            Self.expectAnswered(published, phase: "failed deploy")
            Self.expectBalanced(counts, phase: "failed deploy")
            Self.expectNoLoss(report, phase: "failed deploy", presence: presence)
        }

        // (b) blue-green to N+2: green serves everything, blue is drained and stopped.
        do {
            let watch = try await cluster.startWatch(phase: "blue-green")
            let publisher = Self.startPublisher(cluster)
            let result = try await cluster.deploy("blue-green", cluster.tarball("e2e-3"), drain: Self.blueGreenDrain)
            #expect(result.status == 0, "deploy/blue-green to e2e-3 failed:\n\(result.stdout)\(result.stderr)")
            try await Task.sleep(for: .seconds(2))
            let green = try await cluster.connections(of: "green")
            let blue = try cluster.haproxyConnections(of: "blue")
            let published = await publisher.stop()
            let report = try await cluster.finish(watch)
            rows.append(PhaseRow(phase: "b blue-green N+2", counts: green + blue, report: report, seconds: result.seconds, published: published))
            Self.expectAnswered(published, phase: "blue-green")
            for name in cluster.names(of: "green") {
                #expect(try await cluster.version(of: name) == "e2e-3", "\(name) runs e2e-3")
            }
            #expect(green.map(\.1).reduce(0, +) >= Self.clients, "green holds every client: \(green)")
            for (name, count) in blue {
                #expect(count == 0, "\(name) has no connection left")
                #expect(try await cluster.isStopped(name), "\(name) is stopped")
            }
            #expect(try cluster.activeMapFile().contains("active green"), "the map file names green")
            Self.expectNoLoss(report, phase: "blue-green", presence: presence)
            // The drain spreads the reconnects over its window.
            let closes = report["closes"]
            let total = closes.int("total") ?? 0
            let span = (closes.double("last_s") ?? 0) - (closes.double("first_s") ?? 0)
            let busiest = closes["per_second"].counts.values.max() ?? 0
            #expect(total >= Self.clients, "every client moved (closes \(total))")
            let moves = report["moves_ms"]
            #expect((moves.int("count") ?? 0) >= Self.clients, "every client heard again after its move: \(moves.value)")
            #expect(span >= Double(Self.blueGreenDrain) * 0.5, "reconnects spread over \(span) s of a \(Self.blueGreenDrain) s window")
            #expect(Double(busiest) <= Double(total) * 0.35, "at most 35 % of the reconnects in one second (busiest \(busiest) of \(total))")
        }
    }

    /// A backend's publisher through HAProxy on the watch's topics.
    static func startPublisher(_ cluster: DeployTestCluster) -> HTTPPublisher {
        let publisher = HTTPPublisher(
            port: cluster.httpPort, topics: (0..<topics).map { "room:e2e:\($0)" }, connections: 5, rate: httpPublishRate
        )
        publisher.start()
        return publisher
    }

    /// Every publish through HAProxy was answered 202: none dropped in flight
    /// on a node being stopped, none left hanging.
    static func expectAnswered(_ published: HTTPPublisher.Tally, phase: String) {
        #expect(published.closed == 0 && published.hung == 0, "\(phase): publishes dropped or hanging: \(published)")
        #expect(published.accepted == published.sent, "\(phase): every publish accepted: \(published)")
        // The failed deploy lasts about a second: at least one publish per topic.
        #expect(published.sent >= topics, "\(phase): the HTTP publisher ran: \(published)")
    }

    /// After a rebalance every instance is within 10 % of the mean.
    static func expectBalanced(_ counts: [(String, Int)], phase: String) {
        let mean = Double(counts.map(\.1).reduce(0, +)) / Double(counts.count)
        for (name, count) in counts {
            #expect(abs(Double(count) - mean) <= mean * 0.10, "\(phase): after the rebalance, \(name) holds \(count) connections; mean \(mean)")
        }
    }

    /// Every client ends connected and joined, saw no HTTP error but retried
    /// 503s, and never went 10 s without a message.
    static func expectNoLoss(_ report: ReportJSON, phase: String, presence: Bool) {
        let final = report["final"]
        #expect(final.int("connected") == clients, "\(phase): clients connected at the end \(final.value)")
        #expect(final.int("joined") == clients, "\(phase): clients joined at the end \(final.value)")
        let http = report["errors"]["http"].counts
        #expect(http.keys.allSatisfy { $0 == "503" }, "\(phase): HTTP errors other than refused (503) upgrades: \(http)")
        let maxGap = report["gaps_ms"].double("max") ?? .infinity
        #expect(maxGap < 10_000, "\(phase): a client went \(maxGap) ms without messages")
        // The long-poll clients are among them, and reported apart too.
        let longPollP99 = report["gaps_ms_longpoll"].double("p99") ?? .infinity
        #expect(longPollP99 < 3_000, "\(phase): long-poll clients' gap p99 \(longPollP99) ms")
        // At least two seconds of every client's shouts (the failed deploy is watched for about four).
        #expect((report.int("received") ?? 0) > clients * shoutRate * 2, "\(phase): messages flowed")
        if presence { expectExactLists(report["presence"], phase: phase) }
    }

    /// With presence on: every client's list is its room, and no member
    /// left a list more often than it was moved.
    static func expectExactLists(_ presence: ReportJSON, phase: String) {
        print("\(phase): presence \(presence.value)")
        #expect(presence.int("lists_exact") == clients, "\(phase): every list exact: \(presence.value)")
        #expect(presence.int("ghosts_listed") == 0 && presence.int("members_missing") == 0, "\(phase): \(presence.value)")
        #expect(presence.int("visible_leaves_beyond_moves") == 0, "\(phase): a member vanished more often than it moved: \(presence.value)")
    }
}

/// One line of the summary table.
struct PhaseRow {
    var phase: String
    var counts: [(String, Int)]
    var report: ReportJSON
    var seconds: Double
    var published: HTTPPublisher.Tally

    static func table(_ rows: [PhaseRow], presence: Bool) -> String {
        var lines = [
            "",
            "Deploy end to end: \(DeployEndToEndTests.clients) clients (\(DeployEndToEndTests.longPollClients) on long-poll) on \(DeployEndToEndTests.topics) topics, "
                + "\(DeployEndToEndTests.shoutRate) shouts/s and \(Int(DeployEndToEndTests.httpPublishRate)) POST /api/broadcast/s (keep-alive, through HAProxy) per topic; presence \(presence ? "on" : "off")",
        ]
        let header = [
            "phase", "deploy s", "connections per instance", "gap p50 ms", "p99 ms", "max ms", "long-poll p99 ms", "reconnects", "closes by code",
            "HTTP errors", "end connected/joined", "POST /api/broadcast (sent/202/dropped/hung, slowest ms)",
        ]
        var table = [header]
        for row in rows {
            let gaps = row.report["gaps_ms"]
            let final = row.report["final"]
            func number(_ value: Double?) -> String { value.map { String(format: "%.0f", $0) } ?? "-" }
            let http = row.report["errors"]["http"].counts
            table.append([
                row.phase,
                String(format: "%.0f", row.seconds),
                row.counts.map { "\($0.0)=\($0.1)" }.joined(separator: " "),
                number(gaps.double("p50")), number(gaps.double("p99")), number(gaps.double("max")),
                number(row.report["gaps_ms_longpoll"].double("p99")),
                String(row.report["reconnects"].int("total") ?? 0),
                row.report["closes"]["by_code"].counts.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "),
                http.isEmpty ? "none" : http.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "),
                "\(final.int("connected") ?? 0)/\(final.int("joined") ?? 0)",
                "\(row.published.sent)/\(row.published.accepted)/\(row.published.closed)/\(row.published.hung), \(Int(row.published.slowestMilliseconds))",
            ])
        }
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        for (index, row) in table.enumerated() {
            lines.append(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: " | "))
            if index == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-")) }
        }
        // Where a move's gap goes, for the phases that moved clients.
        for row in rows {
            let moves = row.report["moves_ms"]
            guard (moves.int("count") ?? 0) > 0 else { continue }
            func part(_ name: String) -> String {
                let part = moves[name]
                return [part.double("p50"), part.double("p99")].map { $0.map { String(format: "%.0f", $0) } ?? "-" }.joined(separator: " / ")
            }
            lines.append(
                "\(row.phase): a move's parts, p50 / p99 ms: silence before the close \(part("silence_before_close")), "
                    + "close to open \(part("close_to_open")), open to the first message \(part("open_to_message"))"
            )
        }
        return lines.joined(separator: "\n")
    }
}
