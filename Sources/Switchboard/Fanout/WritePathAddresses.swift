import CSwitchboardShims

/// Where the objects a write to one connection goes through live (for a
/// NIO transport: itself, its handler context, the pipeline and the channel).
///
/// A fan-out visits thousands of connections whose objects have left the CPU
/// cache, and each write waits for them in turn. Prefetching the next
/// connection's objects while the current write is in the kernel takes those
/// waits off the path (at 5,000 subscribers, about a third of the user-space
/// time of a delivery). Only addresses are kept: prefetching a stale one
/// costs nothing, as a prefetch never faults.
/// (Sendable: the addresses are only ever prefetched, never dereferenced.)
package struct WritePathAddresses: @unchecked Sendable {
    private let objects: (UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?)
    /// A large object whose first few hundred bytes a write reads (a socket channel).
    private let large: UnsafeRawPointer?

    package static let none = WritePathAddresses()

    private init() {
        objects = (nil, nil, nil)
        large = nil
    }

    package init(_ first: AnyObject, _ second: AnyObject, _ third: AnyObject, large: AnyObject) {
        objects = (Self.address(of: first), Self.address(of: second), Self.address(of: third))
        self.large = Self.address(of: large)
    }

    @inline(__always)
    func prefetch() {
        if let first = objects.0 { switchboard_prefetch(first, 2) }
        if let second = objects.1 { switchboard_prefetch(second, 2) }
        if let third = objects.2 { switchboard_prefetch(third, 2) }
        if let large { switchboard_prefetch(large, 6) }
    }

    static func address(of object: AnyObject) -> UnsafeRawPointer {
        UnsafeRawPointer(Unmanaged.passUnretained(object).toOpaque())
    }
}
