import NIOCore
import Switchboard
import SwitchboardClient

/// Closed-loop pushes: each connection sends its next push when the reply
/// to the previous one arrives, from the reply callback on the client's
/// event loop (no task per request).
struct EchoLoop: Sendable {
    let event: String
    let payload: Payload
    let timeout: TimeAmount

    /// Sends one push on `channel` and, while the window is open, the next
    /// one when it is answered (or timed out). Call on the channel's loop.
    func fire(_ channel: ClientChannel, stats box: NIOLoopBoundBox<LoopStats>) {
        let sentAt = MonotonicClock.now()
        box.value.tally.sent &+= 1
        channel.push(self.event, payload: self.payload, timeout: self.timeout) { result in
            let stats = box.value
            guard stats.running else {
                stats.tally.late &+= 1
                return
            }
            let now = MonotonicClock.now()
            switch result {
            case .success(let reply):
                if reply.status == .ok {
                    stats.tally.received &+= 1
                    stats.tally.lastReceivedAt = now
                    stats.tally.latency.record(from: sentAt, to: now)
                } else {
                    stats.tally.countError("reply_\(reply.status)")
                }
                self.fire(channel, stats: box)
            case .failure(.timeout):
                stats.tally.countError("push_timeout")
                self.fire(channel, stats: box)
            case .failure(let error):
                // The connection or channel is gone: this connection stops.
                stats.tally.countError(FailureKind.of(error, stage: "push"))
            }
        }
    }
}

/// Fixed-rate pushes for the connections of one event loop: a timer on the
/// loop sends the pushes due by now (their absolute due times spread evenly
/// over the loop's connections), skipping a connection that has too many
/// replies outstanding.
final class EchoRateDriver {
    private let connections: [BenchConnection]
    private let stats: NIOLoopBoundBox<LoopStats>
    private let echo: EchoLoop
    /// Pushes per second for all of this loop's connections together.
    private let rate: Double
    private let maxOutstanding: Int
    private var outstanding: [Int]
    private var startAt: UInt64 = 0
    private var issued = 0
    private var cursor = 0
    private var timer: Scheduled<Void>?
    private let eventLoop: any EventLoop

    init(connections: [BenchConnection], stats: NIOLoopBoundBox<LoopStats>, echo: EchoLoop, ratePerConnection: Double, maxOutstanding: Int, eventLoop: any EventLoop) {
        self.connections = connections
        self.stats = stats
        self.echo = echo
        self.rate = ratePerConnection * Double(connections.count)
        self.maxOutstanding = maxOutstanding
        self.outstanding = [Int](repeating: 0, count: connections.count)
        self.eventLoop = eventLoop
    }

    func start() {
        guard !self.connections.isEmpty else { return }
        self.startAt = MonotonicClock.now()
        self.tick()
    }

    private func tick() {
        self.timer = nil
        let stats = self.stats.value
        guard stats.running else { return }
        let now = MonotonicClock.now()
        let due = Int(MonotonicClock.seconds(from: self.startAt, to: now) * self.rate) + 1
        while self.issued < due {
            let index = self.cursor
            self.cursor = (self.cursor + 1) % self.connections.count
            self.issued += 1
            if self.outstanding[index] >= self.maxOutstanding {
                stats.tally.skipped &+= 1
                continue
            }
            self.send(index: index, stats: stats)
        }
        let nextDue = self.startAt &+ UInt64(Double(self.issued) / self.rate * 1e9)
        let later = MonotonicClock.now()
        let wait = max(nextDue > later ? nextDue - later : 0, 1_000_000)
        self.timer = self.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(wait))) {
            self.tick()
        }
    }

    private func send(index: Int, stats: LoopStats) {
        let sentAt = MonotonicClock.now()
        self.outstanding[index] += 1
        stats.tally.sent &+= 1
        let box = self.stats
        let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
        self.connections[index].channel.push(self.echo.event, payload: self.echo.payload, timeout: self.echo.timeout) { result in
            let driver = bound.value
            driver.outstanding[index] -= 1
            let stats = box.value
            guard stats.running else {
                stats.tally.late &+= 1
                return
            }
            let now = MonotonicClock.now()
            switch result {
            case .success(let reply) where reply.status == .ok:
                stats.tally.received &+= 1
                stats.tally.lastReceivedAt = now
                stats.tally.latency.record(from: sentAt, to: now)
            case .success(let reply):
                stats.tally.countError("reply_\(reply.status)")
            case .failure(let error):
                stats.tally.countError(FailureKind.of(error, stage: "push"))
            }
        }
    }
}
