import NIOCore
import NIOHTTP1
import NIOPosix
import Switchboard

/// Publishes a ``BroadcastPlan`` over a few keep-alive HTTP/1.1 connections
/// of its own, pipelined (requests go out without waiting for responses),
/// paced by a timer on the publisher's event loop against absolute due
/// times, so that a late tick catches up instead of drifting.
final class BroadcastPublisher: Sendable {
    let plan: BroadcastPlan
    let eventLoop: any EventLoop
    private let state: NIOLoopBoundBox<PublisherState>

    init(plan: BroadcastPlan, eventLoop: any EventLoop) {
        self.plan = plan
        self.eventLoop = eventLoop
        self.state = NIOLoopBoundBox.makeBoxSendingValue(
            PublisherState(plan: plan, eventLoop: eventLoop),
            as: PublisherState.self,
            eventLoop: eventLoop
        )
    }

    /// Opens the HTTP connections.
    func connect() async throws {
        let state = self.state
        let plan = self.plan
        var futures: [EventLoopFuture<any NIOCore.Channel>] = []
        for index in 0..<plan.connections {
            let bootstrap = ClientBootstrap(group: self.eventLoop)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        let handler = BroadcastResponseHandler(state: state.value, index: index)
                        try channel.pipeline.syncOperations.addHandler(handler)
                        state.value.handlers.append(handler)
                    }
                }
            futures.append(bootstrap.connect(host: plan.host, port: plan.port))
        }
        for future in futures {
            _ = try await future.get()
        }
    }

    /// Publishes the plan; returns when every request was answered, or the
    /// response timeout passed after the last one.
    func run() async -> BroadcastSummary {
        let state = self.state
        return (try? await self.eventLoop.flatSubmit {
            state.value.start()
        }.get()) ?? BroadcastSummary()
    }

    /// Broadcasts sent so far (for progress lines).
    func sentSoFar() async -> Int {
        let state = self.state
        return (try? await self.eventLoop.submit { state.value.summary.sent }.get()) ?? 0
    }

    /// Closes the connections.
    func close() async {
        let state = self.state
        _ = try? await self.eventLoop.flatSubmit {
            state.value.close()
        }.get()
    }
}

/// The loop-confined side of a ``BroadcastPublisher``.
final class PublisherState {
    let plan: BroadcastPlan
    let eventLoop: any EventLoop
    /// One per connection, in connection order; added as they connect.
    var handlers: [BroadcastResponseHandler] = []
    private(set) var summary = BroadcastSummary()
    private var startAt: UInt64 = 0
    private var cursor = 0
    private var timer: Scheduled<Void>?
    private var finishTimer: Scheduled<Void>?
    private var sending = false
    private var promise: EventLoopPromise<BroadcastSummary>?
    /// `{"topic":…,"event":…,"payload":{"t":`
    private let bodyHead: ByteBuffer
    /// The plan's fields, then `}}`
    private let bodyTail: ByteBuffer
    private let baseHeaders: HTTPHeaders

    init(plan: BroadcastPlan, eventLoop: any EventLoop) {
        self.plan = plan
        self.eventLoop = eventLoop
        var head = ByteBuffer()
        head.writeStaticString("{\"topic\":")
        JSONValue.string(plan.topic).encode(into: &head)
        head.writeStaticString(",\"event\":")
        JSONValue.string(plan.event).encode(into: &head)
        head.writeStaticString(",\"payload\":{\"t\":")
        self.bodyHead = head
        var tail = ByteBuffer()
        tail.writeString(plan.fields)
        tail.writeStaticString("}}")
        self.bodyTail = tail
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "\(plan.host):\(plan.port)")
        headers.add(name: "authorization", value: "Bearer \(plan.apiKey)")
        headers.add(name: "content-type", value: "application/json")
        self.baseHeaders = headers
    }

    private var outstanding: Int {
        self.handlers.reduce(0) { $0 + $1.outstanding }
    }

    func start() -> EventLoopFuture<BroadcastSummary> {
        let promise = self.eventLoop.makePromise(of: BroadcastSummary.self)
        guard self.promise == nil else {
            promise.fail(ChannelError.inappropriateOperationForState)
            return promise.futureResult
        }
        self.promise = promise
        self.sending = true
        self.startAt = MonotonicClock.now()
        self.tick()
        return promise.futureResult
    }

    /// Sends every broadcast due by now, then sleeps until the next is due
    /// (at least 1 ms, so high rates go out in small batches).
    private func tick() {
        self.timer = nil
        guard self.sending else { return }
        let now = MonotonicClock.now()
        let elapsed = Double(now &- self.startAt) / 1e9
        let due = min(self.plan.count, Int(elapsed * self.plan.rate) + 1)
        var written = [Bool](repeating: false, count: self.handlers.count)
        while self.summary.sent + self.summary.skipped < due {
            guard let index = self.nextWritable() else {
                self.summary.skipped += due - (self.summary.sent + self.summary.skipped)
                break
            }
            self.send(on: self.handlers[index], seq: self.summary.sent + self.summary.skipped)
            written[index] = true
        }
        for (index, wrote) in written.enumerated() where wrote {
            self.handlers[index].flush()
        }
        let done = self.summary.sent + self.summary.skipped
        guard done < self.plan.count, !self.handlers.allSatisfy({ !$0.isOpen }) else {
            self.finishSending()
            return
        }
        let nextDue = self.startAt &+ UInt64(Double(done) * 1e9 / self.plan.rate)
        let later = MonotonicClock.now()
        let wait = max(nextDue > later ? nextDue - later : 0, 1_000_000)
        self.timer = self.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(wait))) {
            self.tick()
        }
    }

    /// The next open connection, in turn, with room for another request.
    private func nextWritable() -> Int? {
        let count = self.handlers.count
        for step in 0..<count {
            let index = (self.cursor + step) % count
            let handler = self.handlers[index]
            if handler.isOpen && handler.outstanding < self.plan.maxOutstandingPerConnection {
                self.cursor = (index + 1) % count
                return index
            }
        }
        return nil
    }

    private func send(on handler: BroadcastResponseHandler, seq: Int) {
        let sentAt = MonotonicClock.now()
        var body = handler.allocator.buffer(capacity: self.bodyHead.readableBytes + 48 + self.bodyTail.readableBytes)
        body.writeImmutableBuffer(self.bodyHead)
        body.writeString(String(sentAt))
        body.writeStaticString(",\"seq\":")
        body.writeString(String(seq))
        body.writeImmutableBuffer(self.bodyTail)
        var headers = self.baseHeaders
        headers.add(name: "content-length", value: String(body.readableBytes))
        handler.write(
            head: HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/broadcast", headers: headers),
            body: body
        )
        if self.summary.sent == 0 {
            self.summary.firstSentAt = sentAt
        }
        self.summary.sent += 1
        self.summary.lastSentAt = sentAt
    }

    private func finishSending() {
        self.sending = false
        self.timer?.cancel()
        self.timer = nil
        if self.outstanding == 0 {
            self.complete()
        } else {
            self.finishTimer = self.eventLoop.assumeIsolated().scheduleTask(in: self.plan.responseTimeout) {
                self.finishTimer = nil
                let missing = self.outstanding
                if missing > 0 {
                    BenchTally.count("no_response", in: &self.summary.errors, by: missing)
                }
                self.complete()
            }
        }
    }

    private func complete() {
        self.finishTimer?.cancel()
        self.finishTimer = nil
        let promise = self.promise
        self.promise = nil
        promise?.succeed(self.summary)
    }

    // MARK: - From the handlers

    func responded(status: Int) {
        BenchTally.count(String(status), in: &self.summary.statuses)
        if (200..<300).contains(status) {
            self.summary.accepted += 1
        }
        if !self.sending && self.promise != nil && self.outstanding == 0 {
            self.complete()
        }
    }

    func connectionClosed(unanswered: Int) {
        if unanswered > 0 {
            BenchTally.count("connection_closed", in: &self.summary.errors, by: unanswered)
        }
        if !self.sending && self.promise != nil && self.outstanding == 0 {
            self.complete()
        }
    }

    func close() -> EventLoopFuture<Void> {
        self.sending = false
        self.timer?.cancel()
        self.timer = nil
        self.complete()
        let futures = self.handlers.map { $0.close() }
        return EventLoopFuture.andAllComplete(futures, on: self.eventLoop)
    }
}
