import Foundation
import Synchronization
@testable import SwitchboardTesting

/// A backend publishing as real ones do: `POST /api/broadcast` through
/// HAProxy on keep-alive HTTP/1.1 connections, each connection publishing to
/// its share of the topics at `rate` broadcasts per second per topic, one
/// request at a time, paced against absolute due times. Every request ends as
/// answered (by status), closed (the connection ended before an answer: a
/// publish dropped in flight) or hung (no answer within 5 s).
final class HTTPPublisher: Sendable {
    struct Tally: Sendable, CustomStringConvertible {
        var sent = 0
        var statuses: [Int: Int] = [:]
        var closed = 0
        var hung = 0
        var reconnects = 0
        var slowestMilliseconds = 0.0

        var answered: Int { statuses.values.reduce(0, +) }
        var accepted: Int { statuses[202] ?? 0 }

        var description: String {
            let codes = statuses.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " ")
            return "sent \(sent), answered \(answered) (\(codes)), closed unanswered \(closed), hung \(hung), reconnects \(reconnects), slowest \(Int(slowestMilliseconds)) ms"
        }
    }

    private let port: Int
    private let topics: [String]
    private let connections: Int
    private let rate: Double
    private let tally = Mutex(Tally())
    private let stopping = Atomic<Bool>(false)
    private let tasks = Mutex<[Task<Void, Never>]>([])

    init(port: Int, topics: [String], connections: Int, rate: Double) {
        self.port = port
        self.topics = topics
        self.connections = connections
        self.rate = rate
    }

    func start() {
        let started = ContinuousClock.now
        for index in 0..<connections {
            let share = stride(from: index, to: topics.count, by: connections).map { topics[$0] }
            let task = Task { await self.publish(share, started: started) }
            tasks.withLock { $0.append(task) }
        }
    }

    /// Stops publishing once the requests in flight are answered; the tally.
    func stop() async -> Tally {
        stopping.store(true, ordering: .relaxed)
        for task in tasks.withLock({ $0 }) { await task.value }
        return tally.withLock { $0 }
    }

    var soFar: Tally { tally.withLock { $0 } }

    private func publish(_ share: [String], started: ContinuousClock.Instant) async {
        guard !share.isEmpty else { return }
        let interval = Duration.seconds(1 / (rate * Double(share.count)))
        var due = started
        var sequence = 0
        var connection: RawTCPConnection?
        while !stopping.load(ordering: .relaxed) {
            if due > .now { try? await Task.sleep(until: due) }
            due += interval
            let topic = share[sequence % share.count]
            sequence += 1
            if connection == nil {
                connection = try? await RawTCPConnection.connect(port: port)
                if connection == nil { record { $0.closed += 1 }; continue }
            }
            let body = #"{"topic":"\#(topic)","event":"news","payload":{"n":\#(sequence)}}"#
            let request = "POST /api/broadcast HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(DeployTestCluster.apiKey)\r\n"
                + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let sent = ContinuousClock.now
            record { $0.sent += 1 }
            do {
                try await connection!.write(request)
                let head = try await connection!.read(through: "\r\n\r\n")
                let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                _ = try await connection!.read(count: length)
                let milliseconds = Double((ContinuousClock.now - sent).components.attoseconds) / 1e15 + Double((ContinuousClock.now - sent).components.seconds) * 1000
                record {
                    $0.statuses[status, default: 0] += 1
                    $0.slowestMilliseconds = max($0.slowestMilliseconds, milliseconds)
                }
                if head.lowercased().contains("connection: close") {
                    connection?.close()
                    connection = nil
                    record { $0.reconnects += 1 }
                }
            } catch {
                let timedOut = "\(error)".contains("timed out")
                record { if timedOut { $0.hung += 1 } else { $0.closed += 1 }; $0.reconnects += 1 }
                connection?.close()
                connection = nil
            }
        }
        connection?.close()
    }

    private func record(_ change: (inout Tally) -> Void) {
        tally.withLock { change(&$0) }
    }
}
