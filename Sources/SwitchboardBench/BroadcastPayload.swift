import ArgumentParser
import SwitchboardTesting

/// What follows `"t":<send time>,"seq":<n>` in a fan-out broadcast's
/// payload: the same bytes in every broadcast of a run.
enum BroadcastPayload {
    /// How the payload is filled.
    enum Shape: String, ExpressibleByArgument, CaseIterable, Sendable {
        /// `"pad":"xxx…"`: cheap to build and to scan, but it compresses to
        /// almost nothing, so it says little about compression.
        case padding
        /// `"messages":[{"id":…,"user":…,"text":…,"sent_at":…},…]`: chat
        /// messages with varied words, numbers and timestamps, which deflate
        /// about as well as an application's JSON does (roughly 3:1 at 1 KB).
        case json
    }

    /// The payload's fields after `"seq"` (with their leading comma), about
    /// `size` bytes long.
    static func fields(shape: Shape, size: Int) -> String {
        switch shape {
        case .padding:
            return #","pad":""# + String(repeating: "x", count: size) + "\""
        case .json:
            return #","messages":["# + chatMessages(bytes: max(0, size - 16)) + "]"
        }
    }

    /// Comma-separated message objects, at least `bytes` long in all (one at
    /// least), made the same way on every run.
    private static func chatMessages(bytes: Int) -> String {
        var random = SeededGenerator(seed: 0x5EED)
        var output = ""
        var id = 48_113
        repeat {
            if !output.isEmpty { output += "," }
            id += 1 + Int(random.next() % 37)
            let user = names[Int(random.next() % UInt64(names.count))]
            let wordCount = 4 + Int(random.next() % 12)
            let text = (0..<wordCount).map { _ in words[Int(random.next() % UInt64(words.count))] }.joined(separator: " ")
            let minute = random.next() % 60
            let second = random.next() % 60
            let reactions = random.next() % 9
            output += #"{"id":\#(id),"user":"\#(user)","text":"\#(text)","#
                + #""sent_at":"2026-12-06T14:\#(minute < 10 ? "0" : "")\#(minute):\#(second < 10 ? "0" : "")\#(second)Z","reactions":\#(reactions)}"#
        } while output.utf8.count < bytes
        return output
    }

    private static let names = [
        "ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances", "john", "radia", "tim", "katherine",
    ]

    private static let words = [
        "the", "deploy", "is", "green", "again", "who", "broke", "staging", "lunch", "at", "noon", "ship", "it",
        "review", "please", "merged", "rollback", "latency", "looks", "fine", "now", "on", "call", "tonight", "coffee",
        "meeting", "moved", "to", "three", "thanks", "ok", "done", "checking", "logs", "cluster", "node", "restarted",
    ]
}
