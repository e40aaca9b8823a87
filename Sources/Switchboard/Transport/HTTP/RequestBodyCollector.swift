import NIOCore

/// Gathers an HTTP request's body chunks up to a limit; past it the body is
/// dropped and ``isTooLarge`` is set, so the handler can answer 413.
struct RequestBodyCollector {
    let limit: Int
    private(set) var body: ByteBuffer?
    private(set) var isTooLarge = false

    init(limit: Int) {
        self.limit = limit
    }

    /// Starts a new request.
    mutating func reset() {
        body = nil
        isTooLarge = false
    }

    mutating func append(_ chunk: inout ByteBuffer) {
        guard !isTooLarge else { return }
        if (body?.readableBytes ?? 0) + chunk.readableBytes > limit {
            isTooLarge = true
            body = nil
        } else if body == nil {
            body = chunk
        } else {
            body!.writeBuffer(&chunk)
        }
    }
}
