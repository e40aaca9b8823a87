import NIOCore
import NIOHTTP1
import SwitchboardProtocol

/// The long-poll way to the server, speaking `Phoenix.Transports.LongPoll` as
/// phoenix.js 1.8's LongPoll does.
///
/// A first `GET` without token creates the session (`{"status": 410,
/// "token": …}`): the transport is open. Then it polls, one `GET` at a time
/// with the token, each answered with messages (200), nothing (204), or an
/// end: 410 once it has a token (session gone: close 3410, so the client
/// reconnects and rejoins), 403 (close 1008), 500 or no usable answer
/// (close 1011), no answer within ``PhoenixClient/Configuration/longPollTimeout``
/// (close 1005). Messages go out as newline-delimited `POST`s batched by a
/// ``LongPollOutbox``; binary ones as a base64 line. No heartbeats.
///
/// The poll and the posts each have their own keep-alive connection.
final class LongPollTransport: ClientTransport {
    private enum State {
        case connecting
        case open
        case closed
    }

    private let core: ClientCore
    private let connectionID: Int
    private let eventLoop: any EventLoop
    private let requests: LongPollRequests
    private let timeout: TimeAmount
    private let pollConnection: HTTPClientConnection
    private let postConnection: HTTPClientConnection
    private var state = State.connecting
    /// The session token, from the first answer on.
    private var token: String?
    private var outbox = LongPollOutbox()

    init(core: ClientCore, connectionID: Int) {
        let configuration = core.configuration
        self.core = core
        self.connectionID = connectionID
        self.eventLoop = core.eventLoop
        self.requests = LongPollRequests(configuration: configuration)
        self.timeout = configuration.longPollTimeout
        // A poll answer carries every message the server buffered since the last one.
        let maxAnswerSize = configuration.maxFrameSize.multipliedReportingOverflow(by: 64)
        let maxBodySize = maxAnswerSize.overflow ? Int.max : maxAnswerSize.partialValue
        self.pollConnection = HTTPClientConnection(eventLoop: core.eventLoop, configuration: configuration, maxBodySize: maxBodySize)
        self.postConnection = HTTPClientConnection(eventLoop: core.eventLoop, configuration: configuration, maxBodySize: 4096)
    }

    var kind: PhoenixClient.Transport { .longPoll }
    var sendsHeartbeats: Bool { false }
    var allocator: ByteBufferAllocator { ByteBufferAllocator() }

    func start() {
        self.poll()
    }

    // MARK: - Polling

    private func poll() {
        guard self.state != .closed else { return }
        let head = self.requests.poll(token: self.token)
        self.pollConnection.request(head, body: nil, timeout: self.timeout).assumeIsolated().whenComplete { result in
            guard self.state != .closed else { return }
            switch result {
            case .success(let response):
                self.pollAnswered(response)
            case .failure(let error):
                self.requestFailed(error)
            }
        }
    }

    /// The answer in `response`; `nil` once the transport has closed (1011)
    /// because it is not one.
    private func parsedAnswer(_ response: HTTPClientConnection.Response) -> LongPollAnswer? {
        do {
            return try LongPollAnswer(parsing: response.body, httpStatus: Int(response.head.status.code))
        } catch {
            self.end(code: 1011, reason: "internal server error", error: error)
            return nil
        }
    }

    private func pollAnswered(_ response: HTTPClientConnection.Response) {
        guard let answer = self.parsedAnswer(response) else { return }
        if answer.status == 410 && self.token != nil {
            // The session is gone: fail so that the client reconnects and rejoins.
            self.end(code: 3410, reason: "session_gone", error: .longPollStatus(410))
            return
        }
        self.token = answer.token
        switch answer.status {
        case 200:
            guard let messages = answer.messages else {
                self.end(code: 1011, reason: "internal server error", error: .longPollFailed("status 200 answer without messages"))
                return
            }
            for message in messages {
                guard self.state == .open else { return }
                var buffer = self.allocator.buffer(capacity: message.utf8.count)
                buffer.writeString(message)
                self.core.frameReceived(buffer, kind: .text, connectionID: self.connectionID)
            }
            self.poll()
        case 204:
            self.poll()
        case 410:
            guard self.token != nil else {
                self.end(code: 1011, reason: "internal server error", error: .longPollFailed("new session without a token"))
                return
            }
            guard self.state == .connecting else {
                self.poll()
                return
            }
            self.state = .open
            guard self.core.transportOpened(connectionID: self.connectionID) else {
                self.abort()
                return
            }
            self.poll()
        case 403:
            self.end(code: 1008, reason: "forbidden", error: .longPollStatus(403))
        case 500:
            self.end(code: 1011, reason: "internal server error", error: .longPollStatus(500))
        default:
            self.end(code: 1011, reason: "internal server error", error: .longPollStatus(answer.status))
        }
    }

    private func requestFailed(_ error: any Error) {
        if case HTTPClientConnection.Failure.timedOut = error {
            self.end(code: 1005, reason: "timeout", error: HTTPClientConnection.Failure.timedOut.error)
        } else {
            let clientError = (error as? HTTPClientConnection.Failure)?.error ?? ClientError.longPollFailed("\(error)")
            self.end(code: 1011, reason: "internal server error", error: clientError)
        }
    }

    // MARK: - Sending

    func send(_ data: ByteBuffer, kind: FrameKind) {
        guard self.state == .open else { return }
        let line: String
        switch kind {
        case .text:
            line = String(buffer: data)
        case .binary:
            line = Base64.encode(data.readableBytesView)
        }
        if self.outbox.add(line) {
            // Collect what else is sent in this tick of the event loop.
            self.eventLoop.assumeIsolated().execute {
                guard self.state == .open, let lines = self.outbox.closeBatch() else { return }
                self.post(lines)
            }
        }
    }

    private func post(_ lines: ArraySlice<String>) {
        var body = self.allocator.buffer(capacity: lines.reduce(lines.count) { $0 + $1.utf8.count })
        for (index, line) in lines.enumerated() {
            if index > 0 {
                body.writeInteger(UInt8(ascii: "\n"))
            }
            body.writeString(line)
        }
        let head = self.requests.post(token: self.token)
        self.postConnection.request(head, body: body, timeout: self.timeout).assumeIsolated().whenComplete { result in
            guard self.state == .open else { return }
            switch result {
            case .success(let response):
                self.postAnswered(response)
            case .failure(let error):
                self.requestFailed(error)
            }
        }
    }

    private func postAnswered(_ response: HTTPClientConnection.Response) {
        guard let answer = self.parsedAnswer(response) else { return }
        guard answer.status == 200 else {
            self.end(code: 1011, reason: "internal server error", error: .longPollStatus(answer.status))
            return
        }
        if let lines = self.outbox.acknowledged() {
            self.post(lines)
        }
    }

    // MARK: - Ending

    /// The session ended on the server's word or for want of an answer:
    /// reports the error and the close code, then the end of the transport.
    private func end(code: UInt16, reason: String, error: ClientError) {
        guard self.state != .closed else { return }
        let wasOpen = self.state == .open
        self.shutDown()
        if wasOpen {
            self.core.connectionError(error, connectionID: self.connectionID)
            self.core.closeReceived(code: code, reason: reason, connectionID: self.connectionID)
        } else {
            self.core.recordAttemptError(error, connectionID: self.connectionID)
        }
        self.core.transportClosed(connectionID: self.connectionID)
    }

    /// Ends the session on the client's side. The server is not told (as
    /// phoenix.js): it drops the session when no poll comes.
    func close(code: UInt16, reason: String) {
        guard self.state != .closed else { return }
        let wasOpen = self.state == .open
        self.shutDown()
        self.eventLoop.assumeIsolated().execute {
            if wasOpen {
                self.core.closeReceived(code: code, reason: reason, connectionID: self.connectionID)
            }
            self.core.transportClosed(connectionID: self.connectionID)
        }
    }

    func abort() {
        guard self.state != .closed else { return }
        self.shutDown()
        self.eventLoop.assumeIsolated().execute {
            self.core.transportClosed(connectionID: self.connectionID)
        }
    }

    private func shutDown() {
        self.state = .closed
        self.outbox.removeAll()
        self.pollConnection.close()
        self.postConnection.close()
    }
}

@available(*, unavailable)
extension LongPollTransport: Sendable {}
