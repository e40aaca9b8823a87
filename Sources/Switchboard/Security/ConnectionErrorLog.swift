import Logging
import Synchronization

/// The node-wide budget for log lines about a client's misbehaviour
/// (malformed frames, protocol errors, rate limits): at most `perSecond`
/// lines a second across every connection, the rest counted and reported
/// with the next line that gets through. Each connection logs once, as it
/// closes; this keeps many hostile connections at once from flooding the log.
package final class ConnectionErrorLog: Sendable {
    private struct State {
        var windowStart: ContinuousClock.Instant
        var linesInWindow = 0
        var suppressed = 0
    }

    private let perSecond: Int
    private let state: Mutex<State>

    package init(perSecond: Int = 20) {
        self.perSecond = perSecond
        self.state = Mutex(State(windowStart: .now))
    }

    /// Logs at `notice`, unless the node has used this second's lines.
    func notice(_ logger: Logger, _ message: @autoclosure () -> Logger.Message, metadata: Logger.Metadata = [:]) {
        log(logger, level: .notice, message(), metadata: metadata)
    }

    /// Logs at `warning`, unless the node has used this second's lines.
    func warning(_ logger: Logger, _ message: @autoclosure () -> Logger.Message, metadata: Logger.Metadata = [:]) {
        log(logger, level: .warning, message(), metadata: metadata)
    }

    private func log(_ logger: Logger, level: Logger.Level, _ message: @autoclosure () -> Logger.Message, metadata: Logger.Metadata) {
        let now = ContinuousClock.now
        let suppressed: Int? = state.withLock { state in
            if now - state.windowStart >= .seconds(1) {
                state.windowStart = now
                state.linesInWindow = 0
            }
            guard state.linesInWindow < perSecond else {
                state.suppressed += 1
                return nil
            }
            state.linesInWindow += 1
            defer { state.suppressed = 0 }
            return state.suppressed
        }
        guard let suppressed else { return }
        var metadata = metadata
        if suppressed > 0 { metadata["suppressed_lines"] = "\(suppressed)" }
        logger.log(level: level, message(), metadata: metadata)
    }
}
