import NIOCore

extension RedisPublisher {
    /// The commands written on a publisher connection (or batched for it)
    /// whose replies have not arrived, oldest first: kept while the outage
    /// buffer is on, so that the messages Redis never answered can be re-sent
    /// after a reconnect.
    ///
    /// No message is copied: the batches handed to the channel are kept (the
    /// storage the channel writes from) and each command is known by its
    /// length. Replies come in the order of the commands, so `n` replies
    /// retire the oldest `n` commands, whatever they were.
    ///
    /// At most `capacity` publishes (the outage buffer's size) are kept for
    /// re-sending at a time; one published beyond that is tracked but not
    /// kept, and is lost if the connection is. Requests whose caller waits
    /// for the reply (probes, direct messages) are tracked, never kept.
    struct Unacknowledged {
        private enum Kind: UInt8 {
            /// A publish to re-send if the connection is lost.
            case kept
            /// A publish beyond the capacity.
            case publish
            /// A command with a caller waiting for its reply.
            case request
        }

        private struct Command {
            var length: Int
            var kind: Kind
        }

        let capacity: Int
        private var commands: CircularBuffer<Command>
        /// The written batches holding `commands`, from the oldest unanswered byte on.
        private var batches: CircularBuffer<ByteBuffer>
        /// Kept publishes in `commands`.
        private(set) var kept = 0

        init(capacity: Int) {
            self.capacity = capacity
            self.commands = CircularBuffer(initialCapacity: capacity > 0 ? 64 : 1)
            self.batches = CircularBuffer(initialCapacity: capacity > 0 ? 16 : 1)
        }

        var isEmpty: Bool { commands.isEmpty }

        /// A command of `length` bytes was added to the batch; `keep: false`
        /// tracks a publish without keeping it (one re-sent already).
        mutating func append(length: Int, isPublish: Bool, keep: Bool = true) {
            let kind: Kind
            if !isPublish {
                kind = .request
            } else if keep, kept < capacity {
                kind = .kept
                kept += 1
            } else {
                kind = .publish
            }
            commands.append(Command(length: length, kind: kind))
        }

        /// `batch` (the batch the commands were added to) was handed to the channel.
        mutating func written(_ batch: ByteBuffer) {
            guard batch.readableBytes > 0 else { return }
            batches.append(batch)
        }

        /// Redis answered the next `count` commands; returns the bytes of
        /// the kept publishes at `positions` (among those `count`, ascending),
        /// with their positions.
        @discardableResult
        mutating func answered(_ count: Int, returning positions: [Int] = []) -> [(position: Int, bytes: ByteBuffer)] {
            var remaining = count
            var position = 0
            var wanted = positions[...]
            var returned: [(position: Int, bytes: ByteBuffer)] = []
            while remaining > 0, let command = commands.popFirst() {
                remaining -= 1
                defer { position += 1 }
                if command.kind == .kept { kept -= 1 }
                if wanted.first == position {
                    wanted.removeFirst()
                    if command.kind == .kept {
                        while let first = batches.first, first.readableBytes == 0 {
                            batches.removeFirst()
                        }
                        if let bytes = batches.first?.getSlice(at: batches.first!.readerIndex, length: command.length) {
                            var copy = ByteBufferAllocator().buffer(capacity: bytes.readableBytes)
                            copy.writeImmutableBuffer(bytes)
                            returned.append((position, copy))
                        }
                    }
                }
                // A command never spans batches, and one answered was written.
                while let first = batches.first, first.readableBytes == 0 {
                    batches.removeFirst()
                }
                guard !batches.isEmpty else { continue }
                batches[batches.startIndex].moveReaderIndex(forwardBy: min(command.length, batches[batches.startIndex].readableBytes))
                if batches[batches.startIndex].readableBytes == 0 {
                    batches.removeFirst()
                }
            }
            return returned
        }

        /// Takes the kept publishes, in order: the written batches' first,
        /// then those of `unflushed` (the batch not yet handed to the
        /// channel), one buffer each (slices, not copies); how many came
        /// from `unflushed`; and how many could not be taken because their
        /// bytes are not where the tracked lengths say (a bug: the caller
        /// reports it, and those are lost). Leaves nothing tracked.
        mutating func takeKept(unflushed: ByteBuffer) -> (commands: CircularBuffer<ByteBuffer>, unflushed: Int, missing: Int) {
            var taken = CircularBuffer<ByteBuffer>(initialCapacity: max(kept, 1))
            var fromUnflushed = 0
            var sources = Array(batches)
            sources.append(unflushed)
            var source = 0
            for command in commands {
                while sources[source].readableBytes == 0, source < sources.count - 1 {
                    source += 1
                }
                guard let bytes = sources[source].readSlice(length: command.length) else {
                    // Out of step: what follows cannot be told apart either.
                    break
                }
                guard command.kind == .kept else { continue }
                taken.append(bytes)
                if source == sources.count - 1 { fromUnflushed += 1 }
            }
            let missing = kept - taken.count
            removeAll()
            return (taken, fromUnflushed, missing)
        }

        mutating func removeAll() {
            commands.removeAll(keepingCapacity: true)
            batches.removeAll(keepingCapacity: true)
            kept = 0
        }
    }
}
