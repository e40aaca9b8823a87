import NIOCore
import NIOWebSocket

/// The server's side of a closing handshake the client began, and the
/// UTF-8 rule it shares with text frames.
enum WebSocketCloseHandshake {
    /// Answers a client's close frame as RFC 6455 §5.5.1 and §7.4 have it:
    /// a valid code is echoed (none is answered 1000), an invalid code or a
    /// one-byte payload is answered 1002, a reason that is not UTF-8 1007;
    /// then the connection closes: once the answer is written, or after
    /// ``WebSocketTransport/closeGrace`` when it cannot be (a client that
    /// stopped reading with frames still queued for it).
    static func answer(context: ChannelHandlerContext, closeFrame: WebSocketFrame) {
        var payload = closeFrame.unmaskedData
        let code: WebSocketErrorCode
        switch payload.readableBytes {
        case 0:
            code = .normalClosure
        case 1:
            code = .protocolError
        default:
            let number = payload.readInteger(as: UInt16.self)!
            if !CloseCode.mayBeSent(number) {
                code = .protocolError
            } else if !isUTF8(payload) {
                code = .dataInconsistentWithMessage
            } else {
                code = WebSocketErrorCode(codeNumber: Int(number))
            }
        }
        var reply = context.channel.allocator.buffer(capacity: 2)
        reply.write(webSocketErrorCode: code)
        let channel = context.channel
        context.writeAndFlush(NIOAny(WebSocketFrame(fin: true, opcode: .connectionClose, data: reply)))
            .whenComplete { _ in channel.close(promise: nil) }
        channel.eventLoop.scheduleTask(in: WebSocketTransport.closeGrace) { channel.close(promise: nil) }
    }

    static func isUTF8(_ bytes: ByteBuffer) -> Bool {
        bytes.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) != nil }
    }
}

extension DisconnectReason {
    /// Why to close for an error raised in a WebSocket pipeline: 1009 for a
    /// message over the size or fragment limits, 1002 otherwise; `nil` for
    /// the frame decoder's own errors, whose handler has sent the close
    /// frame already (1009 for an oversized frame).
    static func forWebSocketError(_ error: any Error) -> DisconnectReason? {
        if error is NIOWebSocketError { return nil }
        if let error = error as? NIOWebSocketFrameAggregator.Error, error == .accumulatedFrameSizeIsTooLarge || error == .tooManyFragments {
            return .messageTooLarge
        }
        return .protocolError(detail: "")
    }
}
