#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix
import NIOSSL

/// Opens Redis connections: TCP to the URL's host and port (TLS on top for
/// `rediss://`), then one pipelined handshake — `AUTH` (when the URL has a
/// password), `SELECT` (when it names a database other than 0), `CLIENT
/// SETNAME`, `PING`, then the role's ``RedisAccessCheck`` — all within the
/// connect timeout. A connection is only handed out once every reply came
/// back good, so a missing or wrong password, an ACL user without the
/// rights the adapter needs, or a certificate that is not accepted fails
/// here, with a message that says so.
///
/// The pipeline is, for TLS only, `NIOSSLClientHandler` and
/// ``RedisTLSWatcher``; then ``RedisReplyDecoder`` and the
/// ``RedisCommandHandler`` from `makeHandler`, named ``commandHandlerName``.
/// A plain connection has no TLS handler at all.
enum RedisConnector {
    /// The name of the command handler in the pipeline.
    static let commandHandlerName = "redis-commands"

    /// What a connection needs.
    struct Settings: Sendable {
        var url: RedisURL
        var connectTimeout: Duration
        var limits: HiredisReader.Limits
        /// Shown by `CLIENT LIST`.
        var clientName: String
        /// How to speak TLS when the URL is `rediss://`.
        var tls = RedisTLSConfiguration()
        /// What the connection's role must be allowed to do.
        var accessCheck: RedisAccessCheck?
        /// For a `redis+sentinel://` URL: where to ask for the master's address.
        var discovery: RedisSentinelDiscovery?
        /// Checks with `ROLE`, last in the handshake, that the server is a master.
        var requiresMaster = false
    }

    static func connect(
        _ settings: Settings,
        on eventLoop: any EventLoop,
        makeHandler: @escaping @Sendable () -> RedisCommandHandler
    ) -> EventLoopFuture<any Channel> {
        if let seeds = settings.url.cluster {
            // A cluster through one node (global mode): the seeds in turn.
            return connect(seeds[...], settings, failures: [], on: eventLoop, makeHandler: makeHandler)
        }
        if let discovery = settings.discovery {
            // Behind Sentinel: the master the sentinels name now, checked to be one.
            return discovery.discover(on: eventLoop).flatMap { address in
                var resolved = settings
                resolved.url = settings.url.pointing(to: address)
                resolved.discovery = nil
                resolved.requiresMaster = true
                return connect(resolved, on: eventLoop, makeHandler: makeHandler).flatMapErrorThrowing { error in
                    discovery.rejected(address)
                    throw error
                }
            }
        }
        guard settings.url.tls else {
            return connect(settings, tlsContext: nil, on: eventLoop, makeHandler: makeHandler)
        }
        // The files are read for every connection (rotation), off the event loop.
        let configuration = settings.tls
        return NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) { () throws -> NIOSSLContext in
            try RedisTLS.makeContext(configuration)
        }.flatMap { context in
            connect(settings, tlsContext: context, on: eventLoop, makeHandler: makeHandler)
        }
    }

    /// Connects to the first of `seeds` that takes the connection.
    private static func connect(
        _ seeds: ArraySlice<RedisHostPort>,
        _ settings: Settings,
        failures: [any Error],
        on eventLoop: any EventLoop,
        makeHandler: @escaping @Sendable () -> RedisCommandHandler
    ) -> EventLoopFuture<any Channel> {
        guard let seed = seeds.first else {
            return eventLoop.makeFailedFuture(failures.last ?? RedisAdapterError.invalidConfiguration("a cluster URL without nodes"))
        }
        var resolved = settings
        resolved.url = settings.url.pointing(to: seed)
        return connect(resolved, on: eventLoop, makeHandler: makeHandler).flatMapError { error in
            connect(seeds.dropFirst(), settings, failures: failures + [error], on: eventLoop, makeHandler: makeHandler)
        }
    }

    private static func connect(
        _ settings: Settings,
        tlsContext: NIOSSLContext?,
        on eventLoop: any EventLoop,
        makeHandler: @escaping @Sendable () -> RedisCommandHandler
    ) -> EventLoopFuture<any Channel> {
        let url = settings.url
        let timeout = TimeAmount(settings.connectTimeout)
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tlsContext {
                        try sync.addHandler(RedisTLS.clientHandler(context: tlsContext, url: url, configuration: settings.tls))
                        try sync.addHandler(RedisTLSWatcher())
                    }
                    try sync.addHandler(ByteToMessageHandler(RedisReplyDecoder(limits: settings.limits)))
                    try sync.addHandler(makeHandler(), name: commandHandlerName)
                }
            }
            .connect(host: url.host, port: url.port)
            .flatMapError { error in
                eventLoop.makeFailedFuture(describeConnectError(error, url: url, timeout: settings.connectTimeout))
            }
            .flatMap { channel in
                handshake(channel, settings: settings).map { channel }
            }
    }

    /// Sends the handshake and checks each reply in order.
    private static func handshake(_ channel: any Channel, settings: Settings) -> EventLoopFuture<Void> {
        let eventLoop = channel.eventLoop
        let url = settings.url
        var bytes = channel.allocator.buffer(capacity: 128)
        var slots: [RedisReplySlot] = []
        func command(_ arguments: [RedisArgument]) -> EventLoopFuture<RedisValue> {
            let promise = eventLoop.makePromise(of: RedisValue.self)
            RedisCommand.write(arguments, into: &bytes)
            slots.append(.promise(promise))
            return promise.futureResult
        }

        var auth: EventLoopFuture<RedisValue>?
        if let password = url.password {
            auth = command(["AUTH"] + (url.username.map { [.string($0)] } ?? []) + [.string(password)])
        }
        let select = url.database == 0 ? nil : command(["SELECT", .string(String(url.database))])
        let name = command(["CLIENT", "SETNAME", .string(settings.clientName)])
        let ping = command(["PING"])
        let access = settings.accessCheck.map { check in
            (check, check.commands.map { command($0) })
        }
        let role = settings.requiresMaster ? command(["ROLE"]) : nil

        let timedOut = NIOLoopBoundBox(false, eventLoop: eventLoop)
        let timeout = eventLoop.scheduleTask(in: TimeAmount(settings.connectTimeout)) {
            timedOut.value = true
            channel.close(promise: nil)
        }
        channel.writeAndFlush(RedisRequest(bytes: bytes, replies: slots, isHandshake: true), promise: nil)

        @Sendable func check(_ reply: EventLoopFuture<RedisValue>?, _ failure: @escaping @Sendable (String) -> RedisAdapterError) -> EventLoopFuture<Void> {
            guard let reply else { return eventLoop.makeSucceededVoidFuture() }
            return reply.map { _ in }.flatMapError { error in
                if let watcher = try? channel.pipeline.syncOperations.handler(type: RedisTLSWatcher.self),
                   let tlsFailure = tlsFailure(watcher, settings: settings, timedOut: timedOut.value, on: eventLoop)
                {
                    return tlsFailure.flatMapThrowing { throw $0 }
                }
                return eventLoop.makeFailedFuture(error)
            }.flatMapErrorThrowing { error in
                if error is RedisAdapterError { throw error }
                if timedOut.value { throw RedisAdapterError.timedOut(url: url, after: settings.connectTimeout) }
                throw classify(error, url: url, serverError: failure)
            }
        }
        return check(auth) { .authenticationFailed(url: url, message: $0) }
            .flatMap { check(select) { .databaseUnavailable(url: url, message: $0) } }
            .flatMap {
                // Older servers without CLIENT SETNAME rights are fine.
                name.map { _ in }.recover { _ in }
            }
            .flatMap {
                check(ping) { message in
                    message.hasPrefix("NOAUTH") ? .authenticationRequired(url: url) : .handshakeFailed(url: url, reason: message)
                }
            }
            .flatMap {
                guard let (accessCheck, replies) = access else { return eventLoop.makeSucceededVoidFuture() }
                return EventLoopFuture.andAllSucceed(
                    zip(accessCheck.commandNames, replies).map { commandName, reply in
                        let reply = reply.flatMapErrorThrowing { error -> RedisValue in
                            // A cluster's MOVED comes after the ACL check: the right is there.
                            if let message = (error as? RedisError)?.serverMessage, accessCheck.passes(message) { return .null }
                            throw error
                        }
                        return check(reply) { message in
                            message.hasPrefix("NOPERM")
                                ? .permissionDenied(url: url, command: commandName, message: message, needed: accessCheck.needed)
                                : .handshakeFailed(url: url, reason: "\(commandName): \(message)")
                        }
                    },
                    on: eventLoop
                )
            }
            .flatMap {
                guard let role else { return eventLoop.makeSucceededVoidFuture() }
                return check(role) { message in
                    message.hasPrefix("NOPERM")
                        ? .permissionDenied(url: url, command: "ROLE", message: message, needed: "+role, to check that the server the sentinels name is the master")
                        : .handshakeFailed(url: url, reason: "ROLE: \(message)")
                }.flatMap { role }.flatMapThrowing { answer in
                    guard case .array(let elements) = answer, let name = elements.first?.string else {
                        throw RedisAdapterError.handshakeFailed(url: url, reason: "unexpected answer to ROLE: \(String("\(answer)".prefix(200)))")
                    }
                    guard name == "master" else { throw RedisAdapterError.notMaster(url: url, role: name) }
                }
            }
            .map {
                // Handed out: from now on TLS errors reach the connection's handler.
                (try? channel.pipeline.syncOperations.handler(type: RedisTLSWatcher.self))?.established = true
            }
            .always { _ in timeout.cancel() }
            .flatMapError { error in
                channel.close(promise: nil)
                return eventLoop.makeFailedFuture(error)
            }
    }

    /// Why the TLS layer made the handshake fail, if it did: its first error
    /// in words (with what the certificate shows when it failed
    /// verification), or no TLS handshake before the connect timeout.
    private static func tlsFailure(
        _ watcher: RedisTLSWatcher,
        settings: Settings,
        timedOut: Bool,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<RedisAdapterError>? {
        let url = settings.url
        if let error = watcher.firstError {
            guard RedisTLS.isVerificationFailure(error) else {
                return eventLoop.makeSucceededFuture(.tlsFailed(url: url, reason: RedisTLS.describe(error, url: url, configuration: settings.tls)))
            }
            // BoringSSL does not say why: look at the certificate.
            return RedisCertificateInspection.reason(url: url, configuration: settings.tls, timeout: settings.connectTimeout, on: eventLoop)
                .map { inspection in
                    .tlsFailed(url: url, reason: RedisTLS.describe(error, url: url, configuration: settings.tls, inspection: inspection))
                }
        }
        if timedOut, !watcher.handshakeCompleted {
            return eventLoop.makeSucceededFuture(.tlsFailed(
                url: url,
                reason: "no TLS handshake within the connect timeout of \(settings.connectTimeout): is \(url.endpoint) a TLS port? (a plain port wants redis://)"
            ))
        }
        return nil
    }

    private static func classify(_ error: any Error, url: RedisURL, serverError: (String) -> RedisAdapterError) -> RedisAdapterError {
        if let message = (error as? RedisError)?.serverMessage {
            return serverError(message)
        }
        if let error = error as? RedisError, error == .connectionClosed {
            return .handshakeFailed(url: url, reason: "the server closed the connection")
        }
        return .handshakeFailed(url: url, reason: "\(error)")
    }

    /// A connect failure in plain words: "connection refused", "cannot resolve host …".
    static func describeConnectError(_ error: any Error, url: RedisURL, timeout: Duration) -> RedisAdapterError {
        if let error = error as? ChannelError, case .connectTimeout = error {
            return .timedOut(url: url, after: timeout)
        }
        if let error = error as? NIOConnectionError {
            if let ioError = error.connectionErrors.lazy.compactMap({ $0.error as? IOError }).first {
                return .unreachable(url: url, reason: Self.reason(ioError))
            }
            if let first = error.connectionErrors.first {
                return .unreachable(url: url, reason: "\(first.error)")
            }
            return .unreachable(url: url, reason: "cannot resolve host \(url.host)")
        }
        if let ioError = error as? IOError {
            return .unreachable(url: url, reason: reason(ioError))
        }
        return .unreachable(url: url, reason: "\(error)")
    }

    private static func reason(_ error: IOError) -> String {
        String(cString: strerror(error.errnoCode)).lowercased()
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
