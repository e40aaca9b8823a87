import NIOCore
import Synchronization
import SwitchboardClient

/// Opens the bench's connections: at most `--connect-rate` new ones per
/// second and `--connect-concurrency` attempts in flight, bounded in time,
/// with a progress line every second.
struct ConnectionRamp {
    let options: BenchOptions
    /// The bench's event loops; connection `index` gets loop `index % count`.
    let loops: [any EventLoop]
    /// Topic of connection `index`.
    let topic: @Sendable (Int) -> String
    /// Binds callbacks before connection `index` connects.
    let prepare: @Sendable (Int, PhoenixClient, ClientChannel) -> Void
    /// Whether the clients reconnect (and rejoin) after an unexpected close.
    var reconnect = false

    struct Outcome {
        var connections: [BenchConnection]
        var failures: [String: Int]
        var attempted: Int
        var seconds: Double
        /// Connect start → join reply, for the connections that joined.
        var joinLatency: LatencyHistogram

        var failed: Int { self.failures.values.reduce(0, +) }
    }

    /// Opens `count` connections; returns when all have joined or failed.
    /// Attempts not started within three times the planned ramp time plus
    /// 30 s are not made.
    func open(count: Int) async -> Outcome {
        let collected = RampCollector<BenchConnection>()
        let launcher = PacedLauncher.ramp(of: count, options: self.options)
        let options = self.options
        let topic = self.topic
        let prepare = self.prepare
        let reconnect = self.reconnect
        let executors = LoopExecutors(loops: self.loops)
        let result = await launcher.run(executors: executors) { elapsed, started in
            collected.reportProgress(elapsed: elapsed, started: started, of: count)
        } operation: { index in
            let began = MonotonicClock.now()
            // The attempt's task runs on its client's loop: no thread switch per await.
            let result = await BenchConnection.open(
                index: index,
                configuration: options.clientConfiguration(
                    index: index, group: executors.executor(for: index).eventLoop, reconnect: reconnect,
                    transport: options.transport(forConnection: index)
                ),
                topic: topic(index),
                joinTimeout: options.joinTimeoutAmount
            ) { client, channel in
                prepare(index, client, channel)
            }
            collected.record(result, began: began, ended: MonotonicClock.now())
        }
        return collected.state.withLock { state in
            Outcome(
                connections: state.connections.sorted { $0.index < $1.index },
                failures: state.failures,
                attempted: result.started,
                seconds: result.seconds,
                joinLatency: state.joinLatency
            )
        }
    }

    /// Disconnects every connection, `concurrency` at a time (each close
    /// handshake is bounded by the client's close timeout).
    static func closeAll(_ connections: [BenchConnection], concurrency: Int = 256) async {
        var start = 0
        while start < connections.count {
            let wave = connections[start..<min(start + concurrency, connections.count)]
            await withDiscardingTaskGroup { group in
                for connection in wave {
                    group.addTask { await connection.client.disconnect() }
                }
            }
            start += wave.count
        }
    }
}

/// What a ramp's attempts report, from whichever task finishes them.
final class RampCollector<Connection: Sendable>: Sendable {
    struct State {
        var connections: [Connection] = []
        var failures: [String: Int] = [:]
        /// Connect start → join reply, for the connections that joined.
        var joinLatency = LatencyHistogram()
    }

    let state = Mutex(State())

    /// One attempt's outcome: a joined connection, begun and ended at these
    /// monotonic times, or the kind of its failure.
    func record(_ outcome: Result<Connection, BenchFailure>, began: UInt64, ended: UInt64) {
        state.withLock { state in
            switch outcome {
            case .success(let connection):
                state.connections.append(connection)
                state.joinLatency.record(from: began, to: ended)
            case .failure(let failure):
                BenchTally.count(failure.kind, in: &state.failures)
            }
        }
    }

    /// The ramp's progress line: joined, failed and in flight of `count`.
    func reportProgress(elapsed: Double, started: Int, of count: Int) {
        let (joined, failed) = state.withLock { ($0.connections.count, $0.failures.values.reduce(0, +)) }
        BenchOutput.progress(
            "[ramp \(Int(elapsed.rounded()))s] joined \(joined)/\(count)  failed \(failed)  in flight \(started - joined - failed)"
        )
    }
}
