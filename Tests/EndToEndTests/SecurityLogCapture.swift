import Logging
import Synchronization

/// Collects a server's log lines (message and metadata, as one string each)
/// so tests can check what an operator would read — and what must never
/// appear there, such as tokens.
final class SecurityLogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    /// The lines that contain `text`.
    func lines(containing text: String) -> [String] {
        all.filter { $0.contains(text) }
    }

    /// A logger whose lines (`info` and above) land here.
    func logger(label: String = "security-test") -> Logger {
        Logger(label: label) { _ in Handler(capture: self) }
    }

    private struct Handler: LogHandler {
        let capture: SecurityLogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
            let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let line = "\(event.level) \(event.message) \(rendered)"
            capture.lines.withLock { $0.append(line) }
        }
    }
}
