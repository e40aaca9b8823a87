import NIOCore

/// The mutable state of one event loop's bench connections. Only that loop
/// touches it (callbacks run there), so nothing per frame takes a lock.
final class LoopStats {
    var tally = BenchTally()
    /// Cleared when the measured window ends: closed loops stop sending.
    var running = true
}

/// One ``LoopStats`` per event loop of the bench's group, and the driver's
/// way to read them (a `submit` to each loop).
final class LoopStatsSet: Sendable {
    let loops: [any EventLoop]
    private let boxes: [ObjectIdentifier: NIOLoopBoundBox<LoopStats>]

    init(group: any EventLoopGroup) {
        var loops: [any EventLoop] = []
        var boxes: [ObjectIdentifier: NIOLoopBoundBox<LoopStats>] = [:]
        for loop in group.makeIterator() {
            loops.append(loop)
            boxes[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeBoxSendingValue(LoopStats(), as: LoopStats.self, eventLoop: loop)
        }
        self.loops = loops
        self.boxes = boxes
    }

    /// The stats of `loop`, which must belong to the group.
    func box(for loop: any EventLoop) -> NIOLoopBoundBox<LoopStats> {
        guard let box = self.boxes[ObjectIdentifier(loop)] else {
            preconditionFailure("event loop \(loop) is not one of the bench's loops")
        }
        return box
    }

    /// Every loop's tally, merged.
    func snapshot() async -> BenchTally {
        await self.collect { $0.tally }
    }

    /// Ends the measured window on every loop and returns the merged tallies
    /// as they stood at that moment.
    func stop() async -> BenchTally {
        await self.collect { stats in
            stats.running = false
            return stats.tally
        }
    }

    private func collect(_ body: @escaping @Sendable (LoopStats) -> BenchTally) async -> BenchTally {
        var futures: [EventLoopFuture<BenchTally>] = []
        for loop in self.loops {
            let box = self.box(for: loop)
            futures.append(loop.submit { body(box.value) })
        }
        var merged = BenchTally()
        for future in futures {
            if let tally = try? await future.get() {
                merged.merge(tally)
            }
        }
        return merged
    }
}
