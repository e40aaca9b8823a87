import CoreMetrics
import NIOCore
import NIOHTTP1
import Synchronization

/// Carries long-poll requests between nodes: behind a load balancer without
/// stickiness, a session's polls and posts land on any node, and the node
/// that owns the session (named in its token) must answer them. The node
/// that got the request sends it to the owner as a control message through
/// the PubSub adapter (on Redis, the owner's own channel); the owner answers
/// it as if it came straight from the client and sends the whole answer
/// back; the first node writes it to the client.
///
/// A request whose answer does not come back in time (the owner is gone, or
/// the adapter is down) is answered 410: the client reconnects, and its new
/// session lives on the node it reaches. A node that stops answers what it
/// still waits for itself (``answerPending()``).
final class LongPollForwarding: Sendable {
    enum Event {
        static let request = "longpoll_request"
        static let reply = "longpoll_reply"
        /// A node that stops, once it takes no more requests: what was sent
        /// to it and is not answered yet will not be.
        static let ownerLeft = "longpoll_owner_left"
    }

    private let pubsub: PubSub
    private let forwarded: CoreMetrics.Counter
    private let pending = Mutex<Pending>(Pending())
    /// Requests from other nodes taken and not yet answered.
    private let answering = Atomic<Int>(0)

    private struct Pending {
        var next: UInt64 = 0
        var requests: [UInt64: Request] = [:]
    }

    /// A request sent to its owner and not yet answered.
    private struct Request {
        var promise: EventLoopPromise<LongPollReply>
        var owner: String
        var isPoll: Bool
        var token: String
    }

    init(pubsub: PubSub, forwarded: CoreMetrics.Counter) {
        self.pubsub = pubsub
        self.forwarded = forwarded
    }

    /// Sends a request for a session of `owner` there; the answer comes back
    /// on `eventLoop`, at the latest after `timeout` (then 410).
    func forward(
        to owner: String, method: String, token: String, path: String, body: ByteBuffer?, ndjson: Bool,
        timeout: TimeAmount, on eventLoop: any EventLoop
    ) -> EventLoopFuture<LongPollReply> {
        forwarded.increment()
        let promise = eventLoop.makePromise(of: LongPollReply.self)
        let id = pending.withLock { pending in
            pending.next += 1
            pending.requests[pending.next] = Request(promise: promise, owner: owner, isPoll: method == "GET", token: token)
            return pending.next
        }
        let timer = eventLoop.scheduleTask(in: timeout) { [self] in
            complete(id, with: LongPollResponder.reply(status: 410))
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        var payload: JSONObject = [
            "id": .int(Int(id)), "method": .string(method), "token": .string(token), "path": .string(path),
            "ndjson": .bool(ndjson),
        ]
        if let body { payload["body"] = .string(String(buffer: body)) }
        let pubsub = self.pubsub
        Task { [self] in
            do {
                try await pubsub.sendControl(event: Event.request, payload: .object(payload), to: owner)
            } catch {
                complete(id, with: LongPollResponder.reply(status: 410))
            }
        }
        return promise.futureResult
    }

    /// An answer from the owner of a session (`longpoll_reply`).
    func received(reply message: ControlMessage) {
        guard let id = message.payload["id"]?.intValue, let body = message.payload["body"]?.stringValue else { return }
        let status = message.payload["http_status"]?.intValue ?? 200
        complete(UInt64(id), with: LongPollReply(status: HTTPResponseStatus(statusCode: status), body: ByteBuffer(string: body)))
    }

    /// A request for one of this node's sessions (`longpoll_request`):
    /// `answer` answers it as from a client; the answer goes back to the sender.
    func received(
        request message: ControlMessage,
        answer: (_ method: String, _ token: String, _ path: String, _ body: ByteBuffer?, _ ndjson: Bool) -> EventLoopFuture<LongPollReply>
    ) {
        let payload = message.payload
        guard let id = payload["id"]?.intValue, let method = payload["method"]?.stringValue,
              let token = payload["token"]?.stringValue, let path = payload["path"]?.stringValue
        else { return }
        let body = payload["body"]?.stringValue.map { ByteBuffer(string: $0) }
        let pubsub = self.pubsub
        let sender = message.originNode
        answering.add(1, ordering: .relaxed)
        answer(method, token, path, body, payload["ndjson"]?.boolValue ?? false).whenComplete { [self] result in
            // No answer (the loop went away): the sender's timeout answers the client.
            guard case .success(let reply) = result else {
                answering.subtract(1, ordering: .relaxed)
                return
            }
            let payload: JSONValue = [
                "id": .int(id), "http_status": .int(Int(reply.status.code)), "body": .string(String(buffer: reply.body)),
            ]
            Task {
                try? await pubsub.sendControl(event: Event.reply, payload: payload, to: sender)
                answering.subtract(1, ordering: .relaxed)
            }
        }
    }

    /// Tells the other nodes that this one takes no more requests (sent
    /// once its adapter has stopped receiving): a request sent to it and lost
    /// meanwhile is answered by its sender at once.
    func announceLeaving() async {
        try? await pubsub.sendControl(event: Event.ownerLeft, payload: [:], to: nil)
    }

    /// Waits, at most `timeout`, until every request taken from another node
    /// has been answered: called as the node stops, once it takes no more
    /// (``PubSub/stopReceiving()``) and before it can no longer send.
    func waitUntilAnswered(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while answering.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Answers every request still waiting for its owner (for `owner` only,
    /// when given) once no answer can come: this node's adapter has stopped,
    /// or the owner said it left. A poll gets no content and its token (the
    /// client polls again, through another node, and keeps its session), a
    /// post 410.
    func answerPending(ownedBy owner: String? = nil) {
        let requests = pending.withLock { pending in
            let taken = pending.requests.filter { owner == nil || $0.value.owner == owner }
            for id in taken.keys { pending.requests.removeValue(forKey: id) }
            return taken.values
        }
        for request in requests {
            request.promise.succeed(
                request.isPoll ? LongPollResponder.reply(status: 204, token: request.token, messages: []) : LongPollResponder.reply(status: 410)
            )
        }
    }

    private func complete(_ id: UInt64, with reply: LongPollReply) {
        pending.withLock { $0.requests.removeValue(forKey: id) }?.promise.succeed(reply)
    }
}
