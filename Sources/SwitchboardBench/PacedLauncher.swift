import Synchronization

/// Starts up to `count` asynchronous operations at `rate` per second with at
/// most `concurrency` running, until `launchWindow` seconds have passed;
/// then waits for the running ones (each must bound its own duration).
/// Calls `progress` about once a second with the seconds elapsed and the
/// operations started.
struct PacedLauncher {
    var rate: Double
    var concurrency: Int
    var count: Int
    /// Seconds after which no further operation is started.
    var launchWindow: Double

    /// The connection ramp of `count` connections: at `--connect-rate` with
    /// `--connect-concurrency` in flight, attempts not started within three
    /// times the planned ramp time plus 30 s not made.
    static func ramp(of count: Int, options: BenchOptions) -> PacedLauncher {
        PacedLauncher(
            rate: options.connectRate,
            concurrency: options.connectConcurrency,
            count: count,
            launchWindow: Double(count) / options.connectRate * 3 + 30
        )
    }

    struct Outcome {
        /// Operations started.
        var started: Int
        /// Seconds from the first start to the end of the last operation.
        var seconds: Double
        /// Passes of the pacing loop in which a due operation had to wait
        /// because `concurrency` were running (0: the bound never held back).
        var throttled: Int
    }

    /// - Parameter executors: when given, operation `index` runs on the
    ///   event loop `executors.executor(for: index)` wraps.
    func run(
        executors: LoopExecutors? = nil,
        progress: (_ elapsed: Double, _ started: Int) -> Void,
        operation: @escaping @Sendable (Int) async -> Void
    ) async -> Outcome {
        let running = RunningCount()
        let start = MonotonicClock.now()
        let launchDeadline = start + UInt64(self.launchWindow * 1e9)
        var started = 0
        var throttled = 0
        await withDiscardingTaskGroup { group in
            var nextProgress = start + 1_000_000_000
            while started < self.count {
                let now = MonotonicClock.now()
                if now >= launchDeadline { break }
                let due = min(self.count, Int(MonotonicClock.seconds(from: start, to: now) * self.rate) + 1)
                while started < due {
                    guard running.value.load(ordering: .relaxed) < self.concurrency else {
                        throttled += 1
                        break
                    }
                    running.value.add(1, ordering: .relaxed)
                    let index = started
                    group.addTask(executorPreference: executors?.executor(for: index)) {
                        await operation(index)
                        running.value.subtract(1, ordering: .relaxed)
                    }
                    started += 1
                }
                if now >= nextProgress {
                    nextProgress += 1_000_000_000
                    progress(MonotonicClock.seconds(from: start, to: now), started)
                }
                // Held back by the concurrency bound: poll each millisecond;
                // otherwise sleep until the next start is due (progress at least each second).
                let nextDue = start + UInt64(Double(started) / self.rate * 1e9)
                let wait = started < due ? 1_000_000 : min(max(nextDue > now ? nextDue - now : 0, 1_000_000), 100_000_000)
                try? await Task.sleep(for: .nanoseconds(Int64(wait)))
            }
            while running.value.load(ordering: .relaxed) > 0 {
                let now = MonotonicClock.now()
                if now >= nextProgress {
                    nextProgress += 1_000_000_000
                    progress(MonotonicClock.seconds(from: start, to: now), started)
                }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        let end = MonotonicClock.now()
        return Outcome(
            started: started,
            seconds: MonotonicClock.seconds(from: start, to: end),
            throttled: throttled
        )
    }
}

/// Operations running now, shared with the tasks that run them.
final class RunningCount: Sendable {
    let value = Atomic<Int>(0)
}
