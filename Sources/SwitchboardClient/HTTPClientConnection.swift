import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP/1.1 keep-alive connection to the server, carrying one request at
/// a time: it connects on first use, and again when the server has closed it
/// or a request on it failed. Lives on the client's event loop.
///
/// Every failure (connect error, timeout, connection lost, oversized answer)
/// fails the request with ``ClientError/longPollFailed(_:)``; a timeout also
/// says so through ``Failure/timedOut``.
final class HTTPClientConnection {
    /// A complete response.
    struct Response {
        var head: HTTPResponseHead
        var body: ByteBuffer
    }

    /// Why a request failed.
    enum Failure: Error {
        /// No complete answer within the request's timeout.
        case timedOut
        /// Any other failure, described by the error.
        case failed(ClientError)

        var error: ClientError {
            switch self {
            case .timedOut: ClientError.longPollFailed("no answer in time")
            case .failed(let error): error
            }
        }
    }

    /// The request in flight.
    private struct Pending {
        var promise: EventLoopPromise<Response>
        var timer: Scheduled<Void>
    }

    private let eventLoop: any EventLoop
    private let configuration: PhoenixClient.Configuration
    private let maxBodySize: Int
    private var channel: (any Channel)?
    private var pending: Pending?
    private var closed = false

    init(eventLoop: any EventLoop, configuration: PhoenixClient.Configuration, maxBodySize: Int) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.maxBodySize = maxBodySize
    }

    /// Sends `head` and `body` (with its `Content-Length`), connecting first
    /// if needed; the future fails with ``Failure`` after `timeout`.
    /// Only one request may be in flight.
    func request(_ head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount) -> EventLoopFuture<Response> {
        let promise = self.eventLoop.makePromise(of: Response.self)
        guard !self.closed else {
            promise.fail(Failure.failed(ClientError.longPollFailed("connection closed")))
            return promise.futureResult
        }
        guard self.pending == nil else {
            promise.fail(Failure.failed(ClientError.longPollFailed("a request is already in flight")))
            return promise.futureResult
        }
        let timer = self.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.fail(.timedOut)
        }
        self.pending = Pending(promise: promise, timer: timer)
        if let channel = self.channel, channel.isActive {
            self.write(head, body: body, on: channel)
        } else {
            self.channel = nil
            self.connect().assumeIsolated().whenComplete { result in
                switch result {
                case .success(let channel):
                    guard !self.closed, self.pending != nil else {
                        channel.close(promise: nil)
                        return
                    }
                    self.channel = channel
                    self.write(head, body: body, on: channel)
                case .failure(let error):
                    self.fail(.failed(ClientError.longPollFailed("cannot connect: \(error)")))
                }
            }
        }
        return promise.futureResult
    }

    /// Closes the connection; a request in flight fails.
    func close() {
        self.closed = true
        self.fail(.failed(ClientError.longPollFailed("connection closed")))
        self.channel?.close(promise: nil)
        self.channel = nil
    }

    private func connect() -> EventLoopFuture<any Channel> {
        let maxBodySize = self.maxBodySize
        let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
        var bootstrap = ClientBootstrap(group: self.eventLoop)
            .connectTimeout(self.configuration.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPResponseCollector(connection: bound.value, maxBodySize: maxBodySize)
                    )
                }
            }
        do {
            if let local = self.configuration.localAddress {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: local, port: 0))
            }
        } catch {
            return self.eventLoop.makeFailedFuture(error)
        }
        let connected: EventLoopFuture<any Channel>
        if let target = try? SocketAddress(ipAddress: self.configuration.host, port: self.configuration.port) {
            connected = bootstrap.connect(to: target)
        } else {
            connected = bootstrap.connect(host: self.configuration.host, port: self.configuration.port)
        }
        return connected.hop(to: self.eventLoop)
    }

    private func write(_ head: HTTPRequestHead, body: ByteBuffer?, on channel: any Channel) {
        var head = head
        if let body {
            head.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil)).assumeIsolated().whenFailure { error in
            self.responseFailed(ClientError.longPollFailed("cannot send: \(error)"), channel: channel)
        }
    }

    // MARK: - Reports of the pipeline

    func responseReceived(_ response: Response, channel: any Channel) {
        guard channel === self.channel, let pending = self.pending else { return }
        self.pending = nil
        pending.timer.cancel()
        if !response.head.isKeepAlive {
            channel.close(promise: nil)
            self.channel = nil
        }
        pending.promise.succeed(response)
    }

    func responseFailed(_ error: ClientError, channel: any Channel) {
        guard channel === self.channel else { return }
        self.channel = nil
        channel.close(promise: nil)
        self.fail(.failed(error))
    }

    func channelClosed(_ channel: any Channel) {
        guard channel === self.channel else { return }
        self.channel = nil
        self.fail(.failed(ClientError.longPollFailed("connection closed by the server")))
    }

    /// Fails the request in flight, if any; a connection with an unanswered
    /// request cannot be reused.
    private func fail(_ failure: Failure) {
        guard let pending = self.pending else { return }
        self.pending = nil
        pending.timer.cancel()
        self.channel?.close(promise: nil)
        self.channel = nil
        pending.promise.fail(failure)
    }
}

@available(*, unavailable)
extension HTTPClientConnection: Sendable {}
