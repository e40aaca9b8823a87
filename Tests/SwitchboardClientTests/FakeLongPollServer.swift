import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import SwitchboardProtocol
import Synchronization
import Testing

/// A minimal `Phoenix.Transports.LongPoll` endpoint on loopback, for driving
/// the client's long-poll transport in tests.
///
/// `GET <path>/longpoll` without a known token creates a session
/// (`{"status":410,"token":"s<n>","messages":[]}`, or `{"status":403}` when
/// connects are refused); with one it answers the session's queued messages
/// (`{"status":200,…}`) or holds the poll until a message comes or the poll
/// window ends (`{"status":204,…}`). `POST` takes ndjson lines (text, or
/// base64 for binary), answers them as ``FakePhoenixServer`` does (join,
/// leave, `echo`, `noreply`, anything else ok) and says `{"status":200}`.
/// Requests to `…/websocket` get ``Settings/webSocketStatus``, or no answer.
final class FakeLongPollServer: Sendable {
    struct Request: Sendable {
        var method: HTTPMethod
        var uri: String
        var headers: HTTPHeaders
        var body: String

        /// The `token` query parameter.
        var token: String? {
            Self.query(self.uri)["token"]
        }

        var path: String {
            String(self.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
        }

        static func query(_ uri: String) -> [String: String] {
            let parts = uri.split(separator: "?", maxSplits: 1)
            guard parts.count == 2 else { return [:] }
            var query: [String: String] = [:]
            for pair in parts[1].split(separator: "&") {
                let keyValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                query[String(keyValue[0])] = keyValue.count > 1 ? String(keyValue[1]).removingPercentEncoding : ""
            }
            return query
        }
    }

    struct Settings: Sendable {
        /// How long a poll is held before `204`.
        var pollWindow: TimeAmount = .seconds(10)
        /// The answer to WebSocket upgrade requests; `nil` never answers them.
        var webSocketStatus: HTTPResponseStatus? = .serviceUnavailable
        /// Session-creating polls get `{"status":403}`.
        var refuseConnect = false
        /// The `status` posts are answered with.
        var postStatus = 200
        /// Posts get no answer until ``releasePosts()``.
        var holdPosts = false
    }

    /// An answer to be written later (a held poll or post).
    private struct Responder: Sendable {
        let channel: any NIOCore.Channel
        let id: Int

        func respond(status: HTTPResponseStatus = .ok, body: String, close: Bool = false) {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            if close {
                headers.add(name: "Connection", value: "close")
            }
            let channel = self.channel
            channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)), promise: nil)
            channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
            channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in
                if close {
                    channel.close(promise: nil)
                }
            }
        }
    }

    private struct Session {
        var serializer: any Serializer
        var outbox: [String] = []
        var heldPoll: Responder?
    }

    private struct State {
        var settings = Settings()
        var requests: [Request] = []
        var postedLines: [[String]] = []
        var received: [Message] = []
        var sessions: [String: Session] = [:]
        var sessionsCreated = 0
        var heldPosts: [Responder] = []
        var nextResponderID = 0
    }

    private let state = Mutex(State())
    private let serverChannel: any NIOCore.Channel
    let port: Int

    private init(serverChannel: any NIOCore.Channel) {
        self.serverChannel = serverChannel
        self.port = serverChannel.localAddress?.port ?? 0
    }

    static func start() async throws -> FakeLongPollServer {
        let box = Mutex<FakeLongPollServer?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard let server = box.withLock({ $0 }) else {
                    return channel.close()
                }
                return channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(server: server))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let server = FakeLongPollServer(serverChannel: channel)
        box.withLock { $0 = server }
        return server
    }

    func stop() async {
        try? await self.serverChannel.close()
    }

    // MARK: - Test access

    func update(_ body: (inout Settings) -> Void) {
        self.state.withLock { body(&$0.settings) }
    }

    var requests: [Request] { self.state.withLock { $0.requests } }
    var polls: [Request] { self.requests.filter { $0.method == .GET && $0.path.hasSuffix("/longpoll") } }
    var posts: [Request] { self.requests.filter { $0.method == .POST } }
    var webSocketRequests: [Request] { self.requests.filter { $0.path.hasSuffix("/websocket") } }
    /// The lines of each post, in order.
    var postedLines: [[String]] { self.state.withLock { $0.postedLines } }
    var received: [Message] { self.state.withLock { $0.received } }
    var sessionsCreated: Int { self.state.withLock { $0.sessionsCreated } }
    var tokens: [String] { self.state.withLock { Array($0.sessions.keys) } }

    func received(topic: String? = nil, event: String) -> [Message] {
        self.received.filter { $0.event == event && (topic == nil || $0.topic == topic) }
    }

    /// Whether a poll of `token` is being held.
    func isHoldingPoll(token: String) -> Bool {
        self.state.withLock { $0.sessions[token]?.heldPoll != nil }
    }

    /// Queues `frame` for the session and answers its held poll.
    func send(_ frame: OutboundFrame, token: String) {
        self.state.withLock { state in
            guard var session = state.sessions[token] else { return }
            var buffer = ByteBuffer()
            _ = try? session.serializer.encodeServerFrame(frame, into: &buffer)
            session.outbox.append(String(buffer: buffer))
            state.sessions[token] = session
            Self.flush(token: token, state: &state)
        }
    }

    /// Answers the session's held poll with `body` as is.
    func answerHeldPoll(token: String, body: String) {
        let responder = self.state.withLock { state -> Responder? in
            defer { state.sessions[token]?.heldPoll = nil }
            return state.sessions[token]?.heldPoll
        }
        responder?.respond(body: body)
    }

    /// Forgets the session, as when its server process died: its held poll is
    /// answered 204 and the next request with its token finds no session.
    func killSession(token: String) {
        let responder = self.state.withLock { $0.sessions.removeValue(forKey: token)?.heldPoll }
        responder?.respond(body: #"{"status":204,"token":"\#(token)","messages":[]}"#)
    }

    /// Answers the held posts.
    func releasePosts() {
        let (held, status) = self.state.withLock { state in
            defer { state.heldPosts = [] }
            return (state.heldPosts, state.settings.postStatus)
        }
        for responder in held {
            responder.respond(body: #"{"status":\#(status)}"#)
        }
    }

    // MARK: - Requests

    fileprivate func handle(_ request: Request, channel: any NIOCore.Channel) {
        let responder = self.state.withLock { state -> Responder in
            state.requests.append(request)
            state.nextResponderID += 1
            return Responder(channel: channel, id: state.nextResponderID)
        }
        if request.path.hasSuffix("/websocket") {
            if let status = self.state.withLock({ $0.settings.webSocketStatus }) {
                responder.respond(status: status, body: "", close: true)
            }
            return
        }
        guard request.path.hasSuffix("/longpoll") else {
            responder.respond(status: .notFound, body: "not found")
            return
        }
        switch request.method {
        case .GET:
            self.poll(request, responder: responder)
        case .POST:
            self.post(request, responder: responder)
        default:
            responder.respond(status: .badRequest, body: "")
        }
    }

    private func poll(_ request: Request, responder: Responder) {
        enum Outcome {
            case answer(String)
            case held(TimeAmount)
        }
        let outcome = self.state.withLock { state -> Outcome in
            guard let token = request.token, var session = state.sessions[token] else {
                if state.settings.refuseConnect {
                    return .answer(#"{"status":403}"#)
                }
                state.sessionsCreated += 1
                let token = "s\(state.sessionsCreated)"
                let vsn = Request.query(request.uri)["vsn"]
                state.sessions[token] = Session(serializer: (SerializerVersion(vsn: vsn) ?? .v2).serializer)
                return .answer(#"{"status":410,"token":"\#(token)","messages":[]}"#)
            }
            session.heldPoll = responder
            state.sessions[token] = session
            if !session.outbox.isEmpty {
                Self.flush(token: token, state: &state)
                return .answer("")
            }
            return .held(state.settings.pollWindow)
        }
        switch outcome {
        case .answer(let body):
            if !body.isEmpty {
                responder.respond(body: body)
            }
        case .held(let window):
            let token = request.token ?? ""
            responder.channel.eventLoop.scheduleTask(in: window) {
                let expired = self.state.withLock { state -> Bool in
                    guard state.sessions[token]?.heldPoll?.id == responder.id else { return false }
                    state.sessions[token]?.heldPoll = nil
                    return true
                }
                if expired {
                    responder.respond(body: #"{"status":204,"token":"\#(token)","messages":[]}"#)
                }
            }
        }
    }

    /// Answers the held poll of `token` with its queued messages.
    private static func flush(token: String, state: inout State) {
        guard var session = state.sessions[token], let held = session.heldPoll, !session.outbox.isEmpty else { return }
        let messages = JSONValue.array(session.outbox.map { .string($0) })
        session.outbox = []
        session.heldPoll = nil
        state.sessions[token] = session
        held.respond(body: #"{"status":200,"token":"\#(token)","messages":\#(messages.jsonString)}"#)
    }

    private func post(_ request: Request, responder: Responder) {
        guard let token = request.token, let serializer = self.state.withLock({ $0.sessions[token]?.serializer }) else {
            responder.respond(body: #"{"status":410}"#)
            return
        }
        let lines = request.body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var messages: [Message] = []
        for line in lines {
            let message: Message?
            if line.hasPrefix("[") {
                message = try? serializer.decodeClientFrame(ByteBuffer(string: line), kind: .text, limits: .default)
            } else if let bytes = Data(base64Encoded: line) {
                message = try? serializer.decodeClientFrame(ByteBuffer(bytes: bytes), kind: .binary, limits: .default)
            } else {
                message = nil
            }
            if let message {
                messages.append(message)
            }
        }
        let (hold, status) = self.state.withLock { state in
            state.postedLines.append(lines)
            state.received.append(contentsOf: messages)
            if state.settings.holdPosts {
                state.heldPosts.append(responder)
            }
            return (state.settings.holdPosts, state.settings.postStatus)
        }
        for message in messages {
            self.answer(message, token: token)
        }
        if !hold {
            responder.respond(body: #"{"status":\#(status)}"#)
        }
    }

    private func answer(_ message: Message, token: String) {
        func reply(_ status: ReplyStatus, _ response: Payload = .empty) {
            let reply = Reply(joinRef: message.joinRef, ref: message.ref, topic: message.topic, status: status, response: response)
            self.send(.reply(reply), token: token)
        }
        switch message.event {
        case ChannelEvent.join:
            reply(.ok, .json(["topic": .string(message.topic)]))
        case ChannelEvent.leave:
            reply(.ok)
            self.send(.message(Message(joinRef: message.joinRef, ref: message.joinRef, topic: message.topic, event: ChannelEvent.close)), token: token)
        case "echo":
            reply(.ok, message.payload)
        case "noreply":
            break
        default:
            reply(.ok)
        }
    }
}

/// Gathers one request (head and body) and hands it to the server.
private final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart

    let server: FakeLongPollServer
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(server: FakeLongPollServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body.clear()
        case .body(var part):
            self.body.writeBuffer(&part)
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let request = FakeLongPollServer.Request(method: head.method, uri: head.uri, headers: head.headers, body: String(buffer: self.body))
            self.server.handle(request, channel: context.channel)
        }
    }
}
