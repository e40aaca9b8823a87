import FoundationEssentials
import NIOCore
import NIOHTTP1

/// An answer to a long-poll request. As in Phoenix, the protocol's status
/// travels in the JSON body (`{"status":410,"token":…}`) and the HTTP status
/// is 200, except for what is wrong at the HTTP level (a body too large, a
/// method the transport has no use for) and for refused connects, whose HTTP
/// status says why (403, 429, 503) while the body carries the status that
/// phoenix.js acts on (403, or 500 to retry).
struct LongPollReply: Sendable {
    var status: HTTPResponseStatus = .ok
    var body: ByteBuffer
    /// Extra headers (the CORS pre-flight's).
    var headers: HTTPHeaders = [:]
    /// Whether the connection closes after the answer.
    var close = false
}

/// Answers the requests to `<socket path>/longpoll` as Phoenix's
/// `Phoenix.Transports.LongPoll` does:
///
/// - `GET` without a token: the socket's checks and `connect`
///   (``SocketAdmission``), then a new session: `{"status":410,"token":…}`.
/// - `GET` with the token (`?token=`, or the `X-Phoenix-Longpoll-Token`
///   header): the messages queued for the session, waiting up to the window
///   for one: `{"status":200,"token":…,"messages":[…]}`, else 204.
/// - `POST` with the token: one message, or several on separate lines with
///   `Content-Type: application/x-ndjson` (a line that does not start with
///   `[` or `{` is a binary message in base64), handed to the socket in
///   order: `{"status":200}`.
/// - A token that is unknown, forged, for another path or for a session that
///   ended: `{"status":410}`, and the client reconnects.
///
/// A request for another node's session is answered by that node
/// (``LongPollForwarding``).
struct LongPollResponder: Sendable {
    let endpoints: [SocketEndpoint]
    let sessions: LongPollSessions
    let admission: SocketAdmission
    let runtime: ServerRuntime
    private let forwarding: LongPollForwarding

    init(endpoints: [SocketEndpoint], admission: SocketAdmission, runtime: ServerRuntime) {
        self.endpoints = endpoints.filter { $0.longPoll != nil && !$0.echoesFrames }
        self.sessions = LongPollSessions(runtime: runtime)
        self.admission = admission
        self.runtime = runtime
        self.forwarding = LongPollForwarding(pubsub: runtime.pubsub, forwarded: runtime.metrics.longPollForwarded)
    }

    /// Takes the requests and answers other nodes forward to this one.
    func joinCluster() {
        let forwarding = self.forwarding
        let eventLoop = runtime.dispatchers[0].eventLoop
        runtime.handleControl(event: LongPollForwarding.Event.reply) { forwarding.received(reply: $0) }
        runtime.handleControl(event: LongPollForwarding.Event.ownerLeft) { forwarding.answerPending(ownedBy: $0.originNode) }
        runtime.handleControl(event: LongPollForwarding.Event.request) { [self] message in
            forwarding.received(request: message) { method, token, path, body, ndjson in
                answerHere(session: sessions.session(token: token, path: path), method: method, path: path, body: body, ndjson: ndjson, on: eventLoop)
            }
        }
    }

    /// Called as the node stops, once its adapter takes nothing more: waits
    /// (briefly) until what other nodes asked of it is answered, then tells
    /// them it takes no more.
    func finishAnswering() async {
        await forwarding.waitUntilAnswered(timeout: .seconds(1))
        await forwarding.announceLeaving()
    }

    /// Called as the node stops, after its adapter: answers the requests
    /// still waiting for another node (``LongPollForwarding/answerPending()``).
    func leaveCluster() {
        forwarding.answerPending()
    }

    /// Waits, at most `timeout`, until every session has ended: a session
    /// whose socket closed keeps what the socket wrote last until its client
    /// polls once more, and that client should hear 410 from this node, not
    /// wait for an owner that has gone.
    func waitForSessionsToEnd(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while sessions.count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The endpoint whose long-poll path is `path`, if any.
    func endpoint(forPath path: Substring) -> SocketEndpoint? {
        endpoints.first { $0.longPollPath == path }
    }

    /// Answers `head` (with its collected `body`), on `channel`'s event loop.
    func respond(channel: any NIOCore.Channel, head: HTTPRequestHead, body: ByteBuffer?, bodyTooLarge: Bool, endpoint: SocketEndpoint) -> EventLoopFuture<LongPollReply> {
        let eventLoop = channel.eventLoop
        let options = endpoint.longPoll ?? LongPollOptions()
        let token = Self.token(of: head)
        switch head.method {
        case .OPTIONS:
            return eventLoop.makeSucceededFuture(Self.preflight(head))
        case .GET:
            guard let token else { return connect(channel: channel, head: head, endpoint: endpoint, options: options) }
            return answer(method: "GET", token: token, endpoint: endpoint, body: nil, ndjson: false, on: eventLoop) {
                connect(channel: channel, head: head, endpoint: endpoint, options: options)
            }
        case .POST:
            guard !bodyTooLarge else {
                return eventLoop.makeSucceededFuture(Self.reply(
                    status: 413, httpStatus: .payloadTooLarge, error: "body larger than \(HTTPRequestHandler.maxBodySize) bytes", close: true
                ))
            }
            guard let token else {
                return eventLoop.makeSucceededFuture(Self.reply(status: 410))
            }
            return answer(method: "POST", token: token, endpoint: endpoint, body: body, ndjson: Self.isNDJSON(head), on: eventLoop) {
                eventLoop.makeSucceededFuture(Self.reply(status: 410))
            }
        default:
            return eventLoop.makeSucceededFuture(Self.reply(status: 400, httpStatus: .badRequest, error: "expected GET, POST or OPTIONS"))
        }
    }

    /// Answers a poll or a post for an existing session: here when this node
    /// owns it, else by its owner. A token that is no session token at all
    /// gets `notASession`: for a poll, a new session, as Phoenix does (an
    /// application's own socket param may be called `token` too, and comes
    /// alone on the first poll).
    private func answer(
        method: String, token: String, endpoint: SocketEndpoint, body: ByteBuffer?, ndjson: Bool, on eventLoop: any EventLoop,
        notASession: () -> EventLoopFuture<LongPollReply>
    ) -> EventLoopFuture<LongPollReply> {
        if let session = sessions.session(token: token, path: endpoint.path) {
            return answerHere(session: session, method: method, path: endpoint.path, body: body, ndjson: ndjson, on: eventLoop)
        }
        guard let owner = LongPollToken.read(token)?.node else { return notASession() }
        guard owner != runtime.pubsub.nodeName else { return eventLoop.makeSucceededFuture(Self.reply(status: 410)) }
        let window = endpoint.longPoll?.window ?? LongPollOptions().window
        return forwarding.forward(
            to: owner, method: method, token: token, path: endpoint.path, body: body, ndjson: ndjson,
            timeout: TimeAmount(window + .seconds(5)), on: eventLoop
        )
    }

    /// Answers a poll or a post for `session`, one of this node's (410 when
    /// there is none), on `eventLoop`.
    private func answerHere(
        session: LongPollSession?, method: String, path: String, body: ByteBuffer?, ndjson: Bool, on eventLoop: any EventLoop
    ) -> EventLoopFuture<LongPollReply> {
        guard let session else {
            return eventLoop.makeSucceededFuture(Self.reply(status: 410))
        }
        guard method == "POST" else {
            let token = session.token
            @Sendable func reply(_ answer: LongPollSession.PollAnswer) -> LongPollReply {
                switch answer {
                case .messages(let messages): Self.reply(status: 200, token: token, messages: messages)
                case .noContent: Self.reply(status: 204, token: token, messages: [])
                case .gone: Self.reply(status: 410)
                }
            }
            // Usually the request came in on the session's own loop: no hops.
            guard session.eventLoop.inEventLoop else {
                return session.eventLoop.flatSubmit { session.poll() }.hop(to: eventLoop).map(reply)
            }
            return session.poll().map(reply)
        }
        let options = endpoints.first { $0.path == path }?.longPoll ?? LongPollOptions()
        let messages: [(bytes: ByteBuffer, kind: FrameKind)]
        do {
            messages = try Self.messages(in: body ?? ByteBuffer(), ndjson: ndjson, max: options.maxMessagesPerPost)
        } catch {
            return eventLoop.makeSucceededFuture(Self.reply(status: 400, httpStatus: .badRequest, error: error.reason))
        }
        guard session.eventLoop.inEventLoop else {
            return session.eventLoop.submit { session.receive(messages) }.hop(to: eventLoop).map { received in
                Self.reply(status: received ? 200 : 410)
            }
        }
        return eventLoop.makeSucceededFuture(Self.reply(status: session.receive(messages) ? 200 : 410))
    }

    /// A new session: the checks every transport makes, the socket's
    /// `connect`, then the token in a 410.
    private func connect(channel: any NIOCore.Channel, head: HTTPRequestHead, endpoint: SocketEndpoint, options: LongPollOptions) -> EventLoopFuture<LongPollReply> {
        let authToken = head.headers.first(name: "x-phoenix-authtoken")
        let sessions = self.sessions
        let runtime = self.runtime
        let peer = channel.remoteAddress.map(SocketAdmission.describe) ?? "-"
        return admission.admit(channel: channel, head: head, endpoint: endpoint, authToken: authToken, slot: .session)
            .map { outcome in
                switch outcome {
                case .accepted(let accepted):
                    let session = sessions.open(accepted, on: channel.eventLoop, window: TimeAmount(options.window), peer: peer)
                    return Self.reply(status: 410, token: session.token, messages: [])
                case .refused(let status):
                    runtime.metrics.socketConnect(HTTPRequestHandler.connectStatus(status), transport: "longpoll")
                    // phoenix.js gives up on 403 and retries on 500; anything else it cannot read.
                    return Self.reply(status: status == .forbidden ? 403 : 500, httpStatus: status)
                }
            }
    }

    // MARK: - Requests

    /// The session token: `?token=`, else the `X-Phoenix-Longpoll-Token`
    /// header; blank counts as none.
    static func token(of head: HTTPRequestHead) -> String? {
        let token = QueryString.value(named: "token", in: QueryString.split(uri: head.uri).query)
            ?? head.headers.first(name: "x-phoenix-longpoll-token")
        guard let token, !token.isEmpty else { return nil }
        return token
    }

    private static func isNDJSON(_ head: HTTPRequestHead) -> Bool {
        head.headers.first(name: "content-type")?.lowercased().hasPrefix("application/x-ndjson") == true
    }

    /// Why a POST body cannot be read.
    struct BodyError: Error {
        var reason: String
    }

    /// The messages of a POST body: the whole body, or each non-empty line
    /// of an ndjson body (`\n` or `\r\n`), text when it starts with `[` or
    /// `{`, else base64 of a binary message.
    static func messages(in body: ByteBuffer, ndjson: Bool, max: Int) throws(BodyError) -> [(bytes: ByteBuffer, kind: FrameKind)] {
        guard ndjson else {
            return body.readableBytes == 0 ? [] : [(body, .text)]
        }
        var messages: [(bytes: ByteBuffer, kind: FrameKind)] = []
        let bytes = body.readableBytesView
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            var line = body.getSlice(at: start, length: end - start)!
            if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
            start = end < bytes.endIndex ? end + 1 : end
            guard let first = line.readableBytesView.first else { continue }
            guard messages.count < max else { throw BodyError(reason: "more than \(max) messages in one request") }
            if first == UInt8(ascii: "[") || first == UInt8(ascii: "{") {
                messages.append((line, .text))
            } else {
                guard let data = Data(base64Encoded: String(buffer: line)) else {
                    throw BodyError(reason: "line \(messages.count + 1) is neither a JSON message nor base64")
                }
                messages.append((ByteBuffer(bytes: data), .binary))
            }
        }
        return messages
    }

    // MARK: - Answers

    /// The answer to a CORS pre-flight, as Phoenix gives it: the transport
    /// checks the origin itself (at connect).
    private static func preflight(_ head: HTTPRequestHead) -> LongPollReply {
        var headers: HTTPHeaders = [
            "access-control-allow-methods": "get, post, options",
            "access-control-max-age": "3600",
        ]
        let requested = head.headers["access-control-request-headers"].joined(separator: ", ")
        if !requested.isEmpty { headers.add(name: "access-control-allow-headers", value: requested) }
        return LongPollReply(body: ByteBuffer(), headers: headers)
    }

    /// `{"status":…}`, with `"token"` and `"messages"` when given (each
    /// message already a JSON string), and `"error"` for a bad request.
    static func reply(
        status: Int, token: String? = nil, messages: [ByteBuffer]? = nil,
        httpStatus: HTTPResponseStatus = .ok, error: String? = nil, close: Bool = false
    ) -> LongPollReply {
        var body = ByteBuffer()
        body.writeStaticString("{\"status\":")
        body.writeString(String(status))
        if let token {
            body.writeStaticString(",\"token\":")
            JSONValue.string(token).encode(into: &body)
        }
        if let messages {
            body.writeStaticString(",\"messages\":[")
            for (index, message) in messages.enumerated() {
                if index > 0 { body.writeStaticString(",") }
                body.writeImmutableBuffer(message)
            }
            body.writeStaticString("]")
        }
        if let error {
            body.writeStaticString(",\"error\":")
            JSONValue.string(error).encode(into: &body)
        }
        body.writeStaticString("}")
        return LongPollReply(status: httpStatus, body: body, close: close)
    }
}
