import NIOCore
import Switchboard
import SwitchboardClient
import Synchronization

/// Set by SIGTERM / SIGINT during `bench watch`.
let watchStopRequested = Atomic<Bool>(false)

/// One watched client's messages and connection state.
final class WatchedClient: Sendable {
    struct State {
        var received = 0
        /// ``MonotonicClock`` time of the last message (or of the watch's start).
        var lastAt: UInt64 = 0
        /// Longest gap so far, in nanoseconds; 0 before the watch starts.
        var longestGap: UInt64 = 0
        /// When the longest gap ended (``MonotonicClock``).
        var longestGapEndedAt: UInt64 = 0
        var watching = false
        var open = true
        /// From a close while watched to the first message after it.
        var pendingMove: PendingMove?
        /// Every completed move while watched: ``Move``.
        var moves: [Move] = []
    }

    /// A move under way: when messages stopped, when the close came, and
    /// when the connection opened again.
    struct PendingMove {
        var silentSince: UInt64
        var closedAt: UInt64
        var reopenedAt: UInt64?
    }

    /// Where one move's gap went, in nanoseconds: messages stopped → the
    /// close came → the connection opened again → the first message came.
    struct Move {
        var beforeClose: UInt64
        var closeToOpen: UInt64
        var openToMessage: UInt64
    }

    private let state = Mutex(State())

    var snapshot: State { self.state.withLock { $0 } }

    func start(at time: UInt64) {
        self.state.withLock {
            $0.watching = true
            $0.lastAt = time
        }
    }

    func received(at time: UInt64) {
        self.state.withLock {
            $0.received += 1
            if $0.watching, let move = $0.pendingMove, let reopenedAt = move.reopenedAt, time >= reopenedAt {
                $0.moves.append(Move(
                    beforeClose: move.closedAt - move.silentSince, closeToOpen: reopenedAt - move.closedAt, openToMessage: time - reopenedAt
                ))
            }
            $0.pendingMove = nil
            if $0.watching && time > $0.lastAt && time - $0.lastAt > $0.longestGap {
                $0.longestGap = time - $0.lastAt
                $0.longestGapEndedAt = time
            }
            $0.lastAt = time
        }
    }

    func setOpen(_ open: Bool, at time: UInt64) {
        self.state.withLock {
            $0.open = open
            if open {
                if $0.pendingMove?.reopenedAt == nil { $0.pendingMove?.reopenedAt = time }
            } else if $0.watching && $0.pendingMove == nil {
                $0.pendingMove = PendingMove(silentSince: $0.lastAt, closedAt: time)
            }
        }
    }

    /// The longest gap in milliseconds, counting the one still running at
    /// `end`, and when it ended.
    func longestGap(until end: UInt64) -> (milliseconds: Double, endedAt: UInt64) {
        self.state.withLock { state in
            let running = end > state.lastAt ? end - state.lastAt : 0
            if running > state.longestGap { return (Double(running) / 1e6, end) }
            return (Double(state.longestGap) / 1e6, state.longestGapEndedAt)
        }
    }
}

/// Closes and failed (re)connects of every watched client.
final class WatchTally: Sendable {
    struct Counts {
        var closes = 0
        var closeCodes: [String: Int] = [:]
        /// Closes per second since the watch started.
        var closeSeconds: [Int] = []
        var firstCloseAt: UInt64?
        var lastCloseAt: UInt64?
        /// Refused upgrades by HTTP status (the clients retried them).
        var httpErrors: [String: Int] = [:]
        /// Other failed attempts, by kind.
        var connectErrors: [String: Int] = [:]
        var startedAt: UInt64 = 0

        func closeSection(startedAt: UInt64) -> ReportSection {
            var section = ReportSection()
            section["total"] = .int(self.closes)
            section["by_code"] = .counts(self.closeCodes)
            if let first = self.firstCloseAt, let last = self.lastCloseAt {
                section["first_s"] = .measured(MonotonicClock.seconds(from: startedAt, to: first), decimals: 2)
                section["last_s"] = .measured(MonotonicClock.seconds(from: startedAt, to: last), decimals: 2)
            }
            var perSecond = ReportSection()
            for (second, count) in self.closeSeconds.enumerated() where count > 0 {
                perSecond[String(second)] = .int(count)
            }
            section["per_second"] = .section(perSecond)
            return section
        }
    }

    private let counts = Mutex(Counts())

    var snapshot: Counts { self.counts.withLock { $0 } }

    func start(at time: UInt64) {
        self.counts.withLock { $0 = Counts(startedAt: time) }
    }

    func closed(code: UInt16?, at time: UInt64) {
        self.counts.withLock { counts in
            guard counts.startedAt > 0, time >= counts.startedAt else { return }
            counts.closes += 1
            counts.closeCodes[code.map(String.init) ?? "none", default: 0] += 1
            let second = Int((time - counts.startedAt) / 1_000_000_000)
            if counts.closeSeconds.count <= second {
                counts.closeSeconds += Array(repeating: 0, count: second + 1 - counts.closeSeconds.count)
            }
            counts.closeSeconds[second] += 1
            counts.firstCloseAt = counts.firstCloseAt ?? time
            counts.lastCloseAt = time
        }
    }

    func failed(_ error: any Error) {
        self.counts.withLock { counts in
            guard counts.startedAt > 0 else { return }
            if let status = (error as? ClientError)?.httpStatus {
                counts.httpErrors[String(status), default: 0] += 1
            } else {
                counts.connectErrors[FailureKind.of(error, stage: "reconnect"), default: 0] += 1
            }
        }
    }
}

/// Whether every client is connected and joined, and their reconnect counts.
struct WatchFinalState {
    var connected = 0
    var joined = 0
    var reconnects = 0
    var clientsReconnected = 0
    var mostReconnects = 0
    var total = 0

    var allJoined: Bool { self.joined == self.total && self.connected == self.total }

    static func read(_ clients: [BenchConnection]) async -> WatchFinalState {
        var state = WatchFinalState(total: clients.count)
        for connection in clients {
            if await connection.client.isConnected { state.connected += 1 }
            if await connection.channel.state == .joined { state.joined += 1 }
            let reconnects = await connection.client.statistics.reconnects
            state.reconnects += reconnects
            state.clientsReconnected += reconnects > 0 ? 1 : 0
            state.mostReconnects = max(state.mostReconnects, reconnects)
        }
        return state
    }

    func section(clients: Int) -> ReportSection {
        var section = ReportSection()
        section["clients"] = .int(clients)
        section["connected"] = .int(self.connected)
        section["joined"] = .int(self.joined)
        section["disconnected"] = .int(clients - self.connected)
        section["not_joined"] = .int(clients - self.joined)
        return section
    }

    var reconnectSection: ReportSection {
        var section = ReportSection()
        section["total"] = .int(self.reconnects)
        section["clients"] = .int(self.clientsReconnected)
        section["most_by_one_client"] = .int(self.mostReconnects)
        return section
    }
}
