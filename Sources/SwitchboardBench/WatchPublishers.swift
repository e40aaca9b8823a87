import NIOCore
import Switchboard
import SwitchboardClient
import Synchronization

/// The publishers of `bench watch`: reconnecting clients that join a share
/// of the topics each and push `shout` to every one of them `rate` times a
/// second, paced against absolute due times.
final class WatchPublishers: Sendable {
    struct Counts {
        var sent = 0
        var accepted = 0
        var errors: [String: Int] = [:]
    }

    let count: Int
    let topics: [String]
    let rate: Double
    private let channels = Mutex<[ClientChannel]>([])
    private let counts = Mutex(Counts())
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(count: Int, topics: [String], rate: Double) {
        self.count = count
        self.topics = topics
        self.rate = rate
    }

    /// Connects the publishers and joins their topics (publisher `p` takes
    /// topics `p`, `p + count`, …). Failures are counted, not fatal: a
    /// publisher that joined keeps reconnecting.
    func open(options: BenchOptions, group: any EventLoopGroup) async {
        guard self.count > 0 else { return }
        await withTaskGroup(of: [ClientChannel].self) { tasks in
            for publisher in 0..<self.count {
                tasks.addTask {
                    var configuration = options.clientConfiguration(index: publisher, group: group, heartbeat: true, reconnect: true)
                    configuration.params["user_id"] = "publisher-\(publisher)"
                    let client = PhoenixClient(configuration: configuration)
                    do {
                        try await client.connect()
                    } catch {
                        self.countError(FailureKind.of(error, stage: "publisher_connect"))
                        return []
                    }
                    var joined: [ClientChannel] = []
                    for topic in stride(from: publisher, to: self.topics.count, by: self.count).map({ self.topics[$0] }) {
                        let channel = client.channel(topic)
                        do {
                            _ = try await channel.join(timeout: options.joinTimeoutAmount)
                            joined.append(channel)
                        } catch {
                            self.countError(FailureKind.of(error, stage: "publisher_join"))
                        }
                    }
                    return joined
                }
            }
            for await joined in tasks {
                self.channels.withLock { $0 += joined }
            }
        }
        let joined = self.channels.withLock { $0.count }
        BenchOutput.note("\(self.count) publishers joined \(joined) of \(self.topics.count) topics")
    }

    /// Starts pushing until ``stop()``.
    func start() {
        let channels = self.channels.withLock { $0 }
        guard !channels.isEmpty, self.rate > 0 else { return }
        let interval = UInt64(1e9 / self.rate)
        let task = Task {
            let startedAt = MonotonicClock.now()
            var tick: UInt64 = 0
            while !Task.isCancelled {
                tick += 1
                for channel in channels {
                    self.counts.withLock { $0.sent += 1 }
                    channel.push("shout", payload: .json(["seq": .int(Int(tick))])) { result in
                        switch result {
                        case .success: self.counts.withLock { $0.accepted += 1 }
                        case .failure(let error): self.countError(FailureKind.of(error, stage: "push"))
                        }
                    }
                }
                let due = startedAt + tick * interval
                let now = MonotonicClock.now()
                if due > now {
                    try? await Task.sleep(for: .nanoseconds(Int64(due - now)))
                }
            }
        }
        self.task.withLock { $0 = task }
    }

    /// Stops pushing.
    func stop() async {
        guard let task = self.task.withLock({ $0 }) else { return }
        task.cancel()
        await task.value
    }

    func close() async {
        let clients = self.channels.withLock { channels in channels.map(\.client) }
        var seen = Set<ObjectIdentifier>()
        for client in clients where seen.insert(ObjectIdentifier(client)).inserted {
            await client.disconnect()
        }
    }

    var summary: ReportSection {
        let counts = self.counts.withLock { $0 }
        var section = ReportSection()
        section["sent"] = .int(counts.sent)
        section["accepted"] = .int(counts.accepted)
        section["errors"] = .counts(counts.errors)
        return section
    }

    private func countError(_ kind: String) {
        self.counts.withLock { $0.errors[kind, default: 0] += 1 }
    }
}
