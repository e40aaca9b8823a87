/// A listener of the server could not be bound: which one, where, and why
/// (``SwitchboardServer/start()``), so that a busy admin port is not taken
/// for a busy public one.
public struct ListenerError: Error, CustomStringConvertible {
    /// `the public listener` or `the admin API`.
    public var listener: String
    public var host: String
    public var port: Int
    public var underlying: any Error

    /// Whether the address was taken (`EADDRINUSE`).
    public var addressInUse: Bool { "\(underlying)".contains("Address already in use") }

    public var description: String {
        let reason = addressInUse ? "the address is already in use (is another server running?)" : "\(underlying)"
        return "cannot serve \(listener) on \(host):\(port): \(reason)"
    }

    /// Runs `bind`, naming `listener` in the error it throws.
    static func naming<T>(_ listener: String, host: String, port: Int, _ bind: () async throws -> T) async throws -> T {
        do {
            return try await bind()
        } catch {
            throw ListenerError(listener: listener, host: host, port: port, underlying: error)
        }
    }
}
