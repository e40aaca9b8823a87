import Foundation
import Logging

/// Keeps the lines logged through its ``logger(_:level:)`` (and writes
/// warnings and above to stderr, as ``testLogger(_:)`` does), for tests that
/// check what is logged, and how often.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [(level: Logger.Level, text: String)] = []

    /// A logger that records `level` and above.
    func logger(_ label: String, level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label) { _ in Handler(capture: self, logLevel: level) }
        logger.logLevel = level
        return logger
    }

    /// The lines at `level` or above that contain `text`.
    func lines(containing text: String, atLeast level: Logger.Level = .info) -> [String] {
        lock.withLock { lines.filter { $0.level >= level && $0.text.contains(text) }.map(\.text) }
    }

    private func record(_ level: Logger.Level, _ text: String) {
        lock.withLock { lines.append((level, text)) }
        if level >= .warning {
            FileHandle.standardError.write(Data("\(level): \(text)\n".utf8))
        }
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.record(event.level, "\(event.message)")
        }
    }
}
