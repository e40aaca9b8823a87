/// A custom origin check for ``CheckOrigin/custom(_:)``: application code
/// that sees the parsed origin (never `null` nor unparsable: those are refused
/// before) and the request. Two hooks are equal when their names are.
///
/// ```swift
/// endpoint.checkOrigin = .custom(OriginCheckHook(name: "tenants") { origin, _ in
///     tenants.contains(origin.host)
/// })
/// ```
public struct OriginCheckHook: Sendable, Hashable {
    /// Names the check in logs and `description`s.
    public var name: String
    /// Whether the origin may open a socket.
    public var check: @Sendable (Origin, ConnectInfo) -> Bool

    public init(name: String, check: @escaping @Sendable (Origin, ConnectInfo) -> Bool) {
        self.name = name
        self.check = check
    }

    public static func == (lhs: OriginCheckHook, rhs: OriginCheckHook) -> Bool { lhs.name == rhs.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}
