import NIOCore

/// What a ``BroadcastPublisher`` sends: `count` broadcasts to `topic` at
/// `rate` per second through `POST /api/broadcast`, each payload
/// `{"t": <send time, CLOCK_MONOTONIC ns>, "seq": n, …fields}`.
struct BroadcastPlan: Sendable {
    var host: String
    var port: Int
    var apiKey: String
    var topic: String
    var event: String
    /// Broadcasts per second.
    var rate: Double
    /// Broadcasts in all.
    var count: Int
    /// The payload's fields after `seq`, with their leading comma
    /// (``BroadcastPayload/fields(shape:size:)``).
    var fields: String
    /// Keep-alive HTTP/1.1 connections the requests are spread over.
    var connections: Int
    /// Requests awaiting a response on one connection beyond which a due
    /// broadcast is skipped (and counted) rather than queued.
    var maxOutstandingPerConnection = 1024
    /// How long, after the last request, responses are awaited.
    var responseTimeout: TimeAmount = .seconds(10)
}

/// How the publishing went.
struct BroadcastSummary: Sendable {
    /// Requests written.
    var sent = 0
    /// Requests answered 2xx.
    var accepted = 0
    /// Responses by HTTP status.
    var statuses: [String: Int] = [:]
    /// Requests without a response, by reason.
    var errors: [String: Int] = [:]
    /// Due broadcasts not sent because every connection had too many
    /// requests outstanding (the server is not keeping up).
    var skipped = 0
    /// ``MonotonicClock`` times of the first and last request.
    var firstSentAt: UInt64 = 0
    var lastSentAt: UInt64 = 0
}
