#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// Where the bench writes: progress and notes on stderr, the report on stdout.
enum BenchOutput {
    static func progress(_ line: String) {
        Self.write(line + "\n", to: 2)
    }

    static func note(_ line: String) {
        Self.write("bench: " + line + "\n", to: 2)
    }

    /// The final report: aligned text, or one JSON object (one line) with `json`.
    static func report(_ report: ReportSection, json: Bool) {
        if json {
            Self.write(report.json.jsonString + "\n", to: 1)
        } else {
            Self.write(report.textLines().joined(separator: "\n") + "\n", to: 1)
        }
    }

    /// Writes all of `text` to file descriptor `fd` (1 stdout, 2 stderr).
    private static func write(_ text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}
