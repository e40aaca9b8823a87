import NIOCore
import NIOHTTP1

/// Reads the HTTP response of a refused upgrade (403, 400, 404 …), reports
/// ``ClientError/upgradeRefused(status:body:)`` for the attempt and closes the
/// connection.
final class RefusedUpgradeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    /// The most of the body kept for the error.
    static let maxBodyBytes = 4096

    private let core: ClientCore
    private let connectionID: Int
    private var status: HTTPResponseStatus?
    private var body = ByteBuffer()
    private var reported = false

    init(core: ClientCore, connectionID: Int) {
        self.core = core
        self.connectionID = connectionID
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.status = head.status
        case .body(var part):
            let room = Self.maxBodyBytes - self.body.readableBytes
            if room > 0, let bytes = part.readSlice(length: min(room, part.readableBytes)) {
                self.body.writeImmutableBuffer(bytes)
            }
        case .end:
            self.report()
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.report()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.report()
        context.close(promise: nil)
    }

    private func report() {
        guard !self.reported, let status = self.status else { return }
        self.reported = true
        let error = ClientError.upgradeRefused(status: Int(status.code), body: String(buffer: self.body))
        self.core.recordAttemptError(error, connectionID: self.connectionID)
    }
}

@available(*, unavailable)
extension RefusedUpgradeHandler: Sendable {}
