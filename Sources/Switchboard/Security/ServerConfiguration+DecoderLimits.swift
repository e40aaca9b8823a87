import NIOHTTP1

extension ServerConfiguration.Limits {
    /// The request line and header bounds as NIO's HTTP decoder enforces
    /// them while parsing (an oversized request is answered 400 and closed
    /// before it is buffered whole).
    var httpDecoderLimits: NIOHTTPDecoderLimitConfiguration {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = maxHeaderFieldSize
        limits.maxHeaderListSize = maxHeadersSize
        limits.maxHeaderFieldCount = maxHeaderCount
        return limits
    }
}
