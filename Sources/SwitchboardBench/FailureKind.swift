#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix
import SwitchboardClient

/// Short, stable names for why a connection, join or push failed, so that
/// failures can be counted by kind (`http_403`, `join_timeout`, …).
enum FailureKind {
    static func of(_ error: any Error, stage: String) -> String {
        if let error = error as? ClientError {
            if let status = error.httpStatus { return "http_\(status)" }
            if let status = error.replyStatus {
                let reason = error.replyResponse?["reason"]?.stringValue.map { ":" + $0 } ?? ""
                return "\(stage)_\(status)\(reason)"
            }
            switch error.name {
            case "handshake_failed": return "handshake_failed"
            case "not_connected", "disconnected": return "\(stage)_disconnected"
            default: return "\(stage)_\(error.name)"
            }
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return "\(stage)_refused"
            case EADDRNOTAVAIL, EADDRINUSE: return "\(stage)_no_free_local_port"
            case EMFILE, ENFILE: return "\(stage)_too_many_open_files"
            case ETIMEDOUT: return "\(stage)_timed_out"
            case ECONNRESET: return "\(stage)_reset"
            default: return "\(stage)_errno_\(error.errnoCode)"
            }
        }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return Self.of(first.error, stage: stage)
        }
        if let error = error as? ChannelError {
            switch error {
            case .connectTimeout: return "\(stage)_connect_timeout"
            default: return "\(stage)_\(error)"
            }
        }
        return "\(stage)_" + String(String(describing: error).prefix(60))
    }
}

/// A failed connection attempt, by the kind ``BenchTally`` counts it under.
struct BenchFailure: Error {
    var kind: String
}
