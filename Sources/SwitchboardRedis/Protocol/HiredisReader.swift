import CHiredis
import NIOCore

/// hiredis's RESP parser (`redisReader`), with a bound on what one reply may
/// allocate, so a hostile or broken server cannot exhaust memory.
///
/// Feed it bytes, then take replies until it has none; each reply is copied
/// into a ``RedisValue`` and hiredis's object freed at once. Not thread-safe:
/// one reader belongs to one connection, on its event loop.
///
/// The bound covers both the bytes hiredis buffers while a reply is
/// incomplete (a bulk string is only allocated once all of it has arrived)
/// and the objects it builds for a reply in progress (an array header
/// `*1000000000` would otherwise allocate its element table up front). The
/// latter is charged by wrapping hiredis's default object constructors, which
/// see this reader's budget through the reader's `privdata`.
final class HiredisReader {
    /// What one reply may use.
    struct Limits: Sendable, Hashable {
        /// Bytes one reply may take, buffered or built.
        var maxReplyBytes: Int
        /// Elements one array reply may declare.
        var maxArrayElements: Int

        init(maxReplyBytes: Int = 16 << 20, maxArrayElements: Int = 4096) {
            self.maxReplyBytes = maxReplyBytes
            self.maxArrayElements = maxArrayElements
        }
    }

    private let reader: UnsafeMutablePointer<redisReader>
    private let budget: UnsafeMutablePointer<ReplyBudget>
    private let allocator: ByteBufferAllocator

    init(limits: Limits, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        guard let reader = redisReaderCreateWithFunctions(BoundedReplyFunctions.table) else {
            fatalError("hiredis could not allocate a reader")
        }
        self.reader = reader
        self.budget = .allocate(capacity: 1)
        self.budget.initialize(to: ReplyBudget(limits: limits))
        self.allocator = allocator
        reader.pointee.privdata = UnsafeMutableRawPointer(budget)
    }

    deinit {
        redisReaderFree(reader)
        budget.deinitialize(count: 1)
        budget.deallocate()
    }

    /// Hands `bytes` to the parser.
    func feed(_ bytes: ByteBufferView) throws(RedisError) {
        let status = bytes.withContiguousStorageIfAvailable { storage in
            storage.withMemoryRebound(to: CChar.self) { chars in
                redisReaderFeed(reader, chars.baseAddress, chars.count)
            }
        } ?? REDIS_ERR
        guard status == REDIS_OK else { throw error() }
        if pendingBytes > budget.pointee.limits.maxReplyBytes {
            throw .replyTooLarge(limit: budget.pointee.limits.maxReplyBytes)
        }
    }

    /// The next complete reply, or `nil` until more bytes arrive.
    func nextReply() throws(RedisError) -> RedisValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw error() }
        guard let raw else { return nil }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer {
            freeReplyObject(raw)
            budget.pointee.used = 0
        }
        return value(of: reply)
    }

    /// Bytes fed but not yet consumed by a complete reply.
    var pendingBytes: Int {
        reader.pointee.len - reader.pointee.pos
    }

    private func error() -> RedisError {
        if let violation = budget.pointee.violation {
            return violation
        }
        let message = withUnsafeBytes(of: reader.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return .protocolViolation(message.isEmpty ? "unreadable reply" : message)
    }

    /// Copies a hiredis reply object into a ``RedisValue``.
    private func value(of reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let object = reply.pointee
        switch object.type {
        case REDIS_REPLY_STRING:
            var buffer = allocator.buffer(capacity: object.len)
            if let bytes = object.str {
                buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: object.len))
            }
            return .bulkString(buffer)
        case REDIS_REPLY_STATUS:
            return .simpleString(string(object))
        case REDIS_REPLY_ERROR:
            return .error(string(object))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(object.integer))
        case REDIS_REPLY_ARRAY:
            guard let elements = object.element else { return .array([]) }
            return .array((0..<object.elements).map { index in
                elements[index].map(value(of:)) ?? .null
            })
        default:
            return .null
        }
    }

    private func string(_ object: redisReply) -> String {
        guard let bytes = object.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: object.len), as: UTF8.self)
    }
}

/// The allocation budget of the reply being parsed, reached by hiredis's
/// object constructors through `redisReadTask.privdata`.
struct ReplyBudget {
    let limits: HiredisReader.Limits
    var used = 0
    /// Why a constructor refused to build an object, once one has.
    var violation: RedisError?

    init(limits: HiredisReader.Limits) {
        self.limits = limits
    }

    /// Charges `bytes`; false (and ``violation`` set) when over the limit.
    mutating func charge(_ bytes: Int) -> Bool {
        used += bytes
        guard used <= limits.maxReplyBytes else {
            violation = .replyTooLarge(limit: limits.maxReplyBytes)
            return false
        }
        return true
    }

    /// Checks an array header; false (and ``violation`` set) when it declares too many elements.
    mutating func admitArray(of elements: Int) -> Bool {
        guard elements <= limits.maxArrayElements else {
            violation = .protocolViolation("array reply of \(elements) elements, over the limit of \(limits.maxArrayElements)")
            return false
        }
        return charge(elements * MemoryLayout<UnsafeMutableRawPointer>.stride)
    }
}

/// hiredis's default reply constructors, each charging the reader's
/// ``ReplyBudget`` first. Returning `NULL` makes hiredis fail the reader with
/// an out-of-memory error, which ``HiredisReader`` reports as
/// ``RedisError/replyTooLarge(limit:)``.
enum BoundedReplyFunctions {
    /// Rough size of one `redisReply` and its allocation overhead.
    private static let objectCost = 64

    /// The constructors of a reader made by `redisReaderCreate`.
    private static let defaults: redisReplyObjectFunctions = {
        guard let reader = redisReaderCreate() else { fatalError("hiredis could not allocate a reader") }
        defer { redisReaderFree(reader) }
        return reader.pointee.fn.pointee
    }()

    /// The table every ``HiredisReader`` uses; never freed.
    nonisolated(unsafe) static let table: UnsafeMutablePointer<redisReplyObjectFunctions> = {
        let table = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
        table.initialize(to: redisReplyObjectFunctions(
            createString: { task, string, length in
                guard BoundedReplyFunctions.charge(task, length + BoundedReplyFunctions.objectCost) else { return nil }
                return BoundedReplyFunctions.defaults.createString!(task, string, length)
            },
            createArray: { task, elements in
                guard let budget = BoundedReplyFunctions.budget(task),
                      budget.pointee.admitArray(of: Int(elements)),
                      budget.pointee.charge(BoundedReplyFunctions.objectCost)
                else { return nil }
                return BoundedReplyFunctions.defaults.createArray!(task, elements)
            },
            createInteger: { task, value in
                guard BoundedReplyFunctions.charge(task, BoundedReplyFunctions.objectCost) else { return nil }
                return BoundedReplyFunctions.defaults.createInteger!(task, value)
            },
            createNil: { task in
                guard BoundedReplyFunctions.charge(task, BoundedReplyFunctions.objectCost) else { return nil }
                return BoundedReplyFunctions.defaults.createNil!(task)
            },
            freeObject: { object in
                BoundedReplyFunctions.defaults.freeObject!(object)
            }
        ))
        return table
    }()

    private static func budget(_ task: UnsafePointer<redisReadTask>?) -> UnsafeMutablePointer<ReplyBudget>? {
        task?.pointee.privdata?.assumingMemoryBound(to: ReplyBudget.self)
    }

    private static func charge(_ task: UnsafePointer<redisReadTask>?, _ bytes: Int) -> Bool {
        guard let budget = budget(task) else { return false }
        return budget.pointee.charge(bytes)
    }
}
