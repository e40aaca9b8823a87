import CHiredis
import NIOCore

/// Formats Redis commands as RESP with hiredis (`redisFormatSdsCommandArgv`,
/// whose own formatter is several times cheaper than the `sprintf` behind
/// `redisFormatCommandArgv`).
enum RedisCommand {
    /// Appends the command `arguments` (name first) to `output`.
    static func write(_ arguments: [RedisArgument], into output: inout ByteBuffer) {
        withPointers(arguments[...], collected: [], lengths: []) { pointers, lengths in
            var pointers = pointers
            pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { argvlen in
                    format(argv, argvlen, into: &output)
                }
            }
        }
    }

    /// The command `arguments` (name first) as RESP bytes.
    static func encode(_ arguments: [RedisArgument], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        write(arguments, into: &buffer)
        return buffer
    }

    /// Appends `PUBLISH channel message` to `output`.
    static func writePublish(channel: ByteBuffer, message: ByteBuffer, into output: inout ByteBuffer) {
        channel.withUnsafeReadableBytes { channel in
            message.withUnsafeReadableBytes { message in
                withPublish(channel: channel, message: message) { _ = output.writeBytes($0) }
            }
        }
    }

    /// Formats `PUBLISH channel message` and lends the bytes to `body`: the
    /// hot path, with the argument table on the stack, and the formatting
    /// done before `body` (which may hold a lock) runs.
    /// `sharded` makes it `SPUBLISH` (Redis Cluster's sharded pub/sub).
    static func withPublish<R>(
        channel: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, sharded: Bool = false, _ body: (UnsafeRawBufferPointer) -> R
    ) -> R {
        withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: 3) { argv in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 3) { argvlen in
                argv[0] = sharded ? shardedPublishName : publishName
                argvlen[0] = sharded ? 8 : 7
                argv[1] = pointer(channel)
                argvlen[1] = channel.count
                argv[2] = pointer(message)
                argvlen[2] = message.count
                return withFormatted(argv, UnsafeBufferPointer(argvlen), body)
            }
        }
    }

    /// The channel of a formatted `PUBLISH`/`SPUBLISH` (`*3\r\n$8\r\nSPUBLISH\r\n$<n>\r\n<channel>\r\n…`);
    /// `nil` for anything else.
    static func publishChannel(of command: ByteBuffer) -> String? {
        var bytes = command
        func line() -> String? {
            guard let end = bytes.readableBytesView.firstIndex(of: UInt8(ascii: "\r")) else { return nil }
            let text = bytes.readString(length: end - bytes.readerIndex)
            bytes.moveReaderIndex(forwardBy: min(2, bytes.readableBytes))
            return text
        }
        func bulk() -> String? {
            guard let header = line(), header.hasPrefix("$"), let length = Int(header.dropFirst()), length >= 0,
                  let text = bytes.readString(length: length)
            else { return nil }
            bytes.moveReaderIndex(forwardBy: min(2, bytes.readableBytes))
            return text
        }
        guard line() == "*3", let name = bulk(), name == "PUBLISH" || name == "SPUBLISH" else { return nil }
        return bulk()
    }

    private static func withPointers(
        _ remaining: ArraySlice<RedisArgument>,
        collected: [UnsafePointer<CChar>?],
        lengths: [Int],
        _ body: ([UnsafePointer<CChar>?], [Int]) -> Void
    ) {
        guard let first = remaining.first else {
            body(collected, lengths)
            return
        }
        first.withUnsafeBytes { bytes in
            withPointers(remaining.dropFirst(), collected: collected + [pointer(bytes)], lengths: lengths + [bytes.count], body)
        }
    }

    private static func format(
        _ argv: UnsafeMutableBufferPointer<UnsafePointer<CChar>?>,
        _ argvlen: UnsafeBufferPointer<Int>,
        into output: inout ByteBuffer
    ) {
        _ = withFormatted(argv, argvlen) { output.writeBytes($0) }
    }

    /// Runs hiredis's `redisFormatSdsCommandArgv`, lends the result to `body`, frees it.
    private static func withFormatted<R>(
        _ argv: UnsafeMutableBufferPointer<UnsafePointer<CChar>?>,
        _ argvlen: UnsafeBufferPointer<Int>,
        _ body: (UnsafeRawBufferPointer) -> R
    ) -> R {
        var command: sds?
        let count = redisFormatSdsCommandArgv(&command, Int32(argv.count), argv.baseAddress, argvlen.baseAddress)
        guard count >= 0, let command else {
            fatalError("hiredis could not allocate a \(argvlen.reduce(0, +))-byte command")
        }
        defer { redisFreeSdsCommand(command) }
        return body(UnsafeRawBufferPointer(start: command, count: Int(count)))
    }

    /// A pointer hiredis may read the argument from; an empty argument gets a
    /// valid pointer too.
    private static func pointer(_ bytes: UnsafeRawBufferPointer) -> UnsafePointer<CChar> {
        UnsafeRawPointer(bytes.baseAddress ?? UnsafeRawPointer(publishName)).assumingMemoryBound(to: CChar.self)
    }

    /// `"PUBLISH"`, kept for the life of the process.
    nonisolated(unsafe) private static let publishName = permanentCString("PUBLISH")

    /// `"SPUBLISH"`, kept for the life of the process.
    nonisolated(unsafe) private static let shardedPublishName = permanentCString("SPUBLISH")

    private static func permanentCString(_ text: String) -> UnsafePointer<CChar> {
        let bytes = Array(text.utf8CString)
        let storage = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        storage.initialize(from: bytes, count: bytes.count)
        return UnsafePointer(storage)
    }
}

/// One argument of a Redis command.
enum RedisArgument: Sendable, ExpressibleByStringLiteral {
    case string(String)
    case bytes(ByteBuffer)

    init(stringLiteral value: String) {
        self = .string(value)
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch self {
        case .string(var string):
            return string.withUTF8 { body(UnsafeRawBufferPointer($0)) }
        case .bytes(let buffer):
            return buffer.withUnsafeReadableBytes(body)
        }
    }
}
