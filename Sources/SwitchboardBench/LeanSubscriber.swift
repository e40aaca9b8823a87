import CompressNIO
import NIOCore
import NIOPosix
import Synchronization

/// A fan-out receiver that costs the bench as little as possible per frame,
/// so that the bench, not the server, is never what limits the figures.
///
/// It is a plain TCP connection: it writes the WebSocket upgrade request and
/// the `phx_join` by hand, then reads the server's frames straight from the
/// socket bytes (server frames are unmasked) and takes each broadcast's send
/// time from the `"t":` field of its payload, without decoding the JSON. All
/// frames that arrive in one read are handled in one pass over the bytes, with
/// no allocation per frame.
///
/// It expects what the bench's publisher sends (`{"t":<ns>,…}` as the
/// payload) and what a Phoenix V2 server writes; anything it does not
/// recognise is skipped, not validated. Use the full client (`--full-client`)
/// to check the protocol itself.
///
/// With `--compress` it offers permessage-deflate and inflates the frames
/// the server compressed (RSV1), each on its own: the server keeps no
/// context between messages.
///
/// For `bench echo` it also runs a closed loop: on ``StartEcho`` it pushes
/// `echoEvent` and pushes again as soon as the ok reply arrives.
final class LeanSubscriber: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        /// The upgrade request is sent; waiting for `101 Switching Protocols`.
        case upgrading
        /// The join is sent; waiting for its reply.
        case joining
        /// Counting broadcasts.
        case joined
        case closed
    }

    private var phase = Phase.upgrading
    /// Bytes received but not handled yet (an incomplete header or frame).
    private var pending: ByteBuffer?
    private let request: String
    private let topic: String
    private let heartbeat: Bool
    private let stats: NIOLoopBoundBox<LoopStats>
    private let joined: EventLoopPromise<Void>
    private var closeCode: UInt16?
    private var heartbeatTimer: RepeatedTask?
    /// The echo push up to its ref, and everything after the ref.
    private let echoHead: String
    private let echoTail: String
    private var echoRef: UInt64 = 1
    /// When the echo push awaiting its reply was sent; 0 when none is.
    private var echoSentAt: UInt64 = 0
    /// Inflates compressed frames; made at the first one.
    private var decompressor: ZlibDecompressor?

    init(
        request: String, topic: String, heartbeat: Bool, stats: NIOLoopBoundBox<LoopStats>, joined: EventLoopPromise<Void>,
        echoEvent: String = "ping", echoPadding: String = ""
    ) {
        self.request = request
        self.topic = topic
        self.heartbeat = heartbeat
        self.stats = stats
        self.joined = joined
        self.echoHead = #"["1",""#
        self.echoTail = #"",\#(Self.jsonString(topic)),\#(Self.jsonString(echoEvent)),{"pad":\#(Self.jsonString(echoPadding))}]"#
    }

    /// Sent down a joined subscriber's pipeline to start its echo loop.
    struct StartEcho {}

    /// The upgrade request of connection `index` to `port`: path with the
    /// connect params and `vsn=2.0.0`, and the WebSocket headers (the key is
    /// fixed: the bench does not check the server's accept value).
    static func upgradeRequest(options: BenchOptions, index: Int, port: Int) -> String {
        var target = options.path
        var separator = target.contains("?") ? "&" : "?"
        for (key, value) in options.connectParams(index: index).sorted(by: { $0.key < $1.key }) where key != "vsn" {
            target += separator + Self.percentEncode(key) + "=" + Self.percentEncode(value)
            separator = "&"
        }
        target += separator + "vsn=2.0.0"
        let host = options.host.contains(":") && !options.host.hasPrefix("[") ? "[\(options.host)]" : options.host
        let extensions = options.compress ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : ""
        return "GET \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(extensions)\r\n"
    }

    private static func percentEncode(_ string: String) -> String {
        var output = ""
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                output += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return output
    }

    // MARK: - Channel events

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: self.request.utf8.count)
        buffer.writeString(self.request)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.heartbeatTimer?.cancel()
        if self.phase == .joined {
            self.stats.value.tally.countClose(code: self.closeCode)
        } else {
            self.joined.fail(BenchFailure(kind: self.phase == .upgrading ? "connect_closed" : "join_closed"))
        }
        self.phase = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is StartEcho {
            if self.phase == .joined { self.sendEcho(context: context) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func sendEcho(context: ChannelHandlerContext) {
        self.echoRef &+= 1
        self.echoSentAt = MonotonicClock.now()
        self.stats.value.tally.sent &+= 1
        self.send(self.echoHead + String(self.echoRef) + self.echoTail, context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = Self.unwrapInboundIn(data)
        if self.phase == .joined {
            self.stats.value.tally.wireBytes &+= UInt64(input.readableBytes)
        }
        if var pending = self.pending {
            pending.writeBuffer(&input)
            input = pending
            self.pending = nil
        }
        if self.phase == .upgrading {
            guard self.readUpgradeResponse(&input, context: context) else { return }
        }
        while self.phase == .joining || self.phase == .joined, let frame = Self.nextFrame(&input) {
            self.handle(frame, context: context)
        }
        if input.readableBytes > 0 && self.phase != .closed {
            self.pending = input
        }
    }

    // MARK: - Handshake

    /// Consumes the HTTP response once complete; `false` while incomplete or
    /// when the upgrade was refused (the connection is then closed).
    private func readUpgradeResponse(_ input: inout ByteBuffer, context: ChannelHandlerContext) -> Bool {
        let end: Int? = input.withUnsafeReadableBytes { bytes in
            guard bytes.count >= 4 else { return nil }
            for index in 0...(bytes.count - 4)
            where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
                return index + 4
            }
            return nil
        }
        guard let end else {
            self.pending = input
            return false
        }
        let statusLine = input.getString(at: input.readerIndex, length: min(12, end)) ?? ""
        input.moveReaderIndex(forwardBy: end)
        guard statusLine.hasSuffix(" 101") else {
            let status = statusLine.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
            self.joined.fail(BenchFailure(kind: "connect_http_\(status)"))
            self.phase = .closed
            context.close(promise: nil)
            return false
        }
        self.phase = .joining
        self.send(#"["1","1",\#(Self.jsonString(self.topic)),"phx_join",{}]"#, context: context)
        return true
    }

    /// A JSON string literal for `string` (topics are plain text; quotes and
    /// backslashes are escaped).
    private static func jsonString(_ string: String) -> String {
        "\"" + string.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    // MARK: - Frames

    private struct Frame {
        var opcode: UInt8
        /// Compressed (permessage-deflate).
        var rsv1: Bool
        var payload: ByteBuffer
    }

    /// The next complete frame in `input`, or `nil` (nothing consumed) when
    /// it has not fully arrived.
    private static func nextFrame(_ input: inout ByteBuffer) -> Frame? {
        guard let first = input.getInteger(at: input.readerIndex, as: UInt8.self),
              let second = input.getInteger(at: input.readerIndex + 1, as: UInt8.self)
        else { return nil }
        var header = 2
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let extended = input.getInteger(at: input.readerIndex + 2, as: UInt16.self) else { return nil }
            length = Int(extended)
            header = 4
        } else if length == 127 {
            guard let extended = input.getInteger(at: input.readerIndex + 2, as: UInt64.self) else { return nil }
            length = Int(truncatingIfNeeded: extended)
            header = 10
        }
        guard input.readableBytes >= header + length else { return nil }
        input.moveReaderIndex(forwardBy: header)
        let payload = input.readSlice(length: length)!
        return Frame(opcode: first & 0x0F, rsv1: first & 0x40 != 0, payload: payload)
    }

    private func handle(_ frame: Frame, context: ChannelHandlerContext) {
        var frame = frame
        if frame.rsv1 {
            guard let inflated = self.inflate(frame.payload) else {
                self.stats.value.tally.countError("inflate_failed")
                context.close(promise: nil)
                return
            }
            self.stats.value.tally.compressedFrames &+= 1
            frame.payload = inflated
        }
        switch frame.opcode {
        case 0x1:
            if self.phase == .joined {
                if self.echoSentAt != 0, self.echoReplied(frame.payload, context: context) { return }
                self.countDelivery(frame.payload)
            } else {
                self.joinReplied(frame.payload, context: context)
            }
        case 0x8:
            self.closeCode = frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt16.self)
            context.close(promise: nil)
        default:
            break
        }
    }

    /// The message `payload` deflated to, or `nil` if it is not deflate data.
    private func inflate(_ payload: ByteBuffer) -> ByteBuffer? {
        var payload = payload
        payload.writeBytes([0, 0, 0xFF, 0xFF])
        do {
            let decompressor = try self.decompressor ?? ZlibDecompressor(algorithm: .deflate, windowSize: 15)
            self.decompressor = decompressor
            defer { try? decompressor.reset() }
            return try payload.decompressStream(with: decompressor, maxSize: 16 << 20)
        } catch {
            return nil
        }
    }

    private static let broadcastPrefix = Array("[null,null,".utf8)
    private static let sendTimeKey = Array(#""t":"#.utf8)

    /// A broadcast (`[null,null,…]`) counts as a delivery; its latency is
    /// taken from the digits after the first `"t":`.
    private func countDelivery(_ payload: ByteBuffer) {
        let now = MonotonicClock.now()
        let sentAt: UInt64? = payload.withUnsafeReadableBytes { bytes in
            guard bytes.count > Self.broadcastPrefix.count,
                  bytes.starts(with: Self.broadcastPrefix)
            else { return UInt64.max }
            let key = Self.sendTimeKey
            var index = Self.broadcastPrefix.count
            while index + key.count < bytes.count {
                if bytes[index] == key[0] && bytes[index + 1] == key[1] && bytes[index + 2] == key[2] && bytes[index + 3] == key[3] {
                    var value: UInt64 = 0
                    var digits = 0
                    index += key.count
                    while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57, digits < 19 {
                        value = value &* 10 &+ UInt64(bytes[index] - 48)
                        index += 1
                        digits += 1
                    }
                    return digits > 0 ? value : nil
                }
                index += 1
            }
            return nil
        }
        if sentAt == UInt64.max { return }  // not a broadcast: a heartbeat reply
        let stats = self.stats.value
        stats.tally.received &+= 1
        stats.tally.lastReceivedAt = now
        if let sentAt, sentAt > 0 {
            stats.tally.latency.record(from: sentAt, to: now)
        } else {
            stats.tally.countError("no_send_time")
        }
    }

    private static let okStatus = Array(#""status":"ok""#.utf8)

    /// Whether `payload` answers the echo push in flight (a reply on the
    /// join's ref `"1"`); if so, records it and sends the next push while
    /// the measured window is open.
    private func echoReplied(_ payload: ByteBuffer, context: ChannelHandlerContext) -> Bool {
        let (isReply, ok): (Bool, Bool) = payload.withUnsafeReadableBytes { bytes in
            guard bytes.starts(with: #"["1",""#.utf8) else { return (false, false) }
            let needle = Self.okStatus
            guard bytes.count >= needle.count else { return (true, false) }
            for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
                if bytes[start..<(start + needle.count)].elementsEqual(needle) { return (true, true) }
            }
            return (true, false)
        }
        guard isReply else { return false }
        let now = MonotonicClock.now()
        let stats = self.stats.value
        let sentAt = self.echoSentAt
        self.echoSentAt = 0
        guard stats.running else {
            stats.tally.late &+= 1
            return true
        }
        if ok {
            stats.tally.received &+= 1
            stats.tally.lastReceivedAt = now
            stats.tally.latency.record(from: sentAt, to: now)
        } else {
            stats.tally.countError("reply_error")
        }
        self.sendEcho(context: context)
        return true
    }

    private func joinReplied(_ payload: ByteBuffer, context: ChannelHandlerContext) {
        let text = String(buffer: payload)
        guard text.contains(#""phx_reply""#) else { return }
        if text.contains(#""status":"ok""#) {
            self.phase = .joined
            self.joined.succeed()
            if self.heartbeat {
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                self.heartbeatTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(30), delay: .seconds(30)) { _ in
                    let (subscriber, context) = bound.value
                    subscriber.send(#"[null,"hb","phoenix","heartbeat",{}]"#, context: context)
                }
            }
        } else {
            self.joined.fail(BenchFailure(kind: "join_refused"))
            self.phase = .closed
            context.close(promise: nil)
        }
    }

    /// Writes a client text frame. Clients must mask; the key is zero, which
    /// leaves the payload bytes as they are (the server unmasks all the same).
    private func send(_ text: String, context: ChannelHandlerContext) {
        let length = text.utf8.count
        var buffer = context.channel.allocator.buffer(capacity: length + 8)
        buffer.writeInteger(UInt8(0x81))
        if length < 126 {
            buffer.writeInteger(UInt8(0x80 | length))
        } else {
            buffer.writeInteger(UInt8(0x80 | 126))
            buffer.writeInteger(UInt16(length))
        }
        buffer.writeInteger(UInt32(0))
        buffer.writeString(text)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }
}

@available(*, unavailable)
extension LeanSubscriber: Sendable {}

/// Opens lean subscribers at the ramp's pace and closes them.
enum LeanRamp {
    struct Outcome {
        var channels: [any NIOCore.Channel]
        var failures: [String: Int]
        var seconds: Double
        var joinLatency: LatencyHistogram
    }

    static func open(count: Int, options: BenchOptions, stats: LoopStatsSet, echoEvent: String = "ping") async -> Outcome {
        let collected = RampCollector<any NIOCore.Channel>()
        let launcher = PacedLauncher.ramp(of: count, options: options)
        let sources = options.sources
        let ports = options.ports
        let loops = stats.loops
        let result = await launcher.run { elapsed, started in
            collected.reportProgress(elapsed: elapsed, started: started, of: count)
        } operation: { index in
            let began = MonotonicClock.now()
            let loop = loops[index % loops.count]
            let port = ports[index % ports.count]
            let outcome = await Self.openOne(
                loop: loop, options: options, port: port,
                request: LeanSubscriber.upgradeRequest(options: options, index: index, port: port), echoEvent: echoEvent,
                source: sources.isEmpty ? nil : sources[index % sources.count],
                stats: stats.box(for: loop)
            )
            collected.record(outcome, began: began, ended: MonotonicClock.now())
        }
        return collected.state.withLock { state in
            Outcome(channels: state.connections, failures: state.failures, seconds: result.seconds, joinLatency: state.joinLatency)
        }
    }

    private static func openOne(
        loop: any EventLoop, options: BenchOptions, port: Int, request: String, echoEvent: String, source: String?, stats: NIOLoopBoundBox<LoopStats>
    ) async -> Result<any NIOCore.Channel, BenchFailure> {
        let joined = loop.makePromise(of: Void.self)
        let topic = options.topic
        let heartbeat = options.heartbeat
        let padding = options.padding
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(options.joinTimeoutAmount)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        LeanSubscriber(request: request, topic: topic, heartbeat: heartbeat, stats: stats, joined: joined,
                                       echoEvent: echoEvent, echoPadding: padding)
                    )
                }
            }
        if let source, let address = try? SocketAddress(ipAddress: source, port: 0) {
            bootstrap = bootstrap.bind(to: address)
        }
        let channel: any NIOCore.Channel
        do {
            channel = try await bootstrap.connect(host: options.host, port: port).get()
        } catch {
            joined.fail(BenchFailure(kind: "connect_failed"))
            return .failure(BenchFailure(kind: FailureKind.of(error, stage: "connect")))
        }
        let timer = loop.scheduleTask(in: options.joinTimeoutAmount) {
            joined.fail(BenchFailure(kind: "join_timeout"))
            channel.close(promise: nil)
        }
        do {
            try await joined.futureResult.get()
            timer.cancel()
            return .success(channel)
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            return .failure(error as? BenchFailure ?? BenchFailure(kind: "join_failed"))
        }
    }

    static func closeAll(_ channels: [any NIOCore.Channel]) async {
        for channel in channels {
            channel.close(promise: nil)
        }
        for channel in channels {
            try? await channel.closeFuture.get()
        }
    }
}
