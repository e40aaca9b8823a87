import CSwitchboardShims
import NIOCore

/// Where the objects a write to one connection goes through live: the
/// writer's context, the pipeline and the channel.
///
/// A fan-out visits thousands of connections whose objects have left the CPU
/// cache, and each write waits for them in turn. Prefetching the next
/// connection's objects while the current write is in the kernel takes those
/// waits off the path (at 5,000 subscribers, about a third of the user-space
/// time of a delivery). Only addresses are kept: prefetching a stale one
/// costs nothing, as a prefetch never faults.
struct WritePathAddresses {
    private let context: UnsafeRawPointer?
    private let pipeline: UnsafeRawPointer?
    private let channel: UnsafeRawPointer?

    init(_ context: ChannelHandlerContext?) {
        self.context = context.map { Self.address(of: $0) }
        self.pipeline = context.map { Self.address(of: $0.pipeline) }
        self.channel = context.map { Self.address(of: $0.channel) }
    }

    @inline(__always)
    func prefetch() {
        if let context { switchboard_prefetch(context, 2) }
        if let pipeline { switchboard_prefetch(pipeline, 2) }
        // A socket channel is a large object; a write reads fields across
        // its first few hundred bytes.
        if let channel { switchboard_prefetch(channel, 6) }
    }

    static func address(of object: AnyObject) -> UnsafeRawPointer {
        UnsafeRawPointer(Unmanaged.passUnretained(object).toOpaque())
    }
}
