/// The lines a long-poll transport still has to post, batched as phoenix.js
/// does: lines sent in the same event-loop tick form one batch, at most one
/// POST is in flight, lines sent meanwhile wait for its acknowledgement, and
/// a POST carries at most ``maxLinesPerPost`` lines (`MAX_LONGPOLL_BATCH_SIZE`).
struct LongPollOutbox {
    static let maxLinesPerPost = 100

    /// The batch being collected in this tick.
    private var collecting: [String]?
    /// The batch being posted, in slices of at most ``maxLinesPerPost``.
    private var posting: [String] = []
    private var postedCount = 0
    /// Lines sent while a POST was in flight.
    private var waiting: [String] = []
    /// Whether a POST is in flight.
    private(set) var awaitingAck = false

    /// Adds one line; returns `true` when it starts a batch, which the caller
    /// then closes with ``closeBatch()`` at the end of the tick.
    mutating func add(_ line: String) -> Bool {
        if self.collecting != nil {
            self.collecting?.append(line)
            return false
        }
        if self.awaitingAck {
            self.waiting.append(line)
            return false
        }
        self.collecting = [line]
        return true
    }

    /// Ends the batch collected this tick: the lines of the first POST to make.
    mutating func closeBatch() -> ArraySlice<String>? {
        guard let batch = self.collecting else { return nil }
        self.collecting = nil
        return self.startPosting(batch)
    }

    /// The server acknowledged the POST in flight: the lines of the next
    /// POST, or `nil` when everything was posted.
    mutating func acknowledged() -> ArraySlice<String>? {
        if self.postedCount < self.posting.count {
            return self.nextPost()
        }
        if !self.waiting.isEmpty {
            let batch = self.waiting
            self.waiting = []
            return self.startPosting(batch)
        }
        self.awaitingAck = false
        self.posting = []
        self.postedCount = 0
        return nil
    }

    /// Forgets every line (the transport closed).
    mutating func removeAll() {
        self = LongPollOutbox()
    }

    private mutating func startPosting(_ batch: [String]) -> ArraySlice<String> {
        self.posting = batch
        self.postedCount = 0
        return self.nextPost()
    }

    private mutating func nextPost() -> ArraySlice<String> {
        self.awaitingAck = true
        let end = min(self.postedCount + Self.maxLinesPerPost, self.posting.count)
        let lines = self.posting[self.postedCount..<end]
        self.postedCount = end
        return lines
    }
}
