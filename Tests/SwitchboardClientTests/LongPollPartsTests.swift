import NIOCore
import NIOHTTP1
import SwitchboardProtocol
import Testing

@testable import SwitchboardClient

/// The pieces of the long-poll transport that need no network: batching,
/// answer parsing, requests, base64.
@Suite("Long-poll parts")
struct LongPollPartsTests {
    @Test("lines of one tick form one batch; lines sent while a POST is in flight wait for its ack")
    func outboxBatchesByTickAndAck() {
        var outbox = LongPollOutbox()
        let started = ["a", "b", "c"].map { outbox.add($0) }
        #expect(started == [true, false, false])
        #expect(Array(outbox.closeBatch() ?? []) == ["a", "b", "c"])
        #expect(outbox.awaitingAck)
        // In flight: nothing starts a batch, everything waits.
        let whileInFlight = ["d", "e"].map { outbox.add($0) }
        #expect(whileInFlight == [false, false])
        #expect(outbox.closeBatch() == nil)
        #expect(Array(outbox.acknowledged() ?? []) == ["d", "e"])
        #expect(outbox.acknowledged() == nil)
        #expect(!outbox.awaitingAck)
        // Idle again: the next line starts a batch.
        let next = outbox.add("f")
        #expect(next)
    }

    @Test("a batch goes out in POSTs of at most 100 lines, one at a time, then what waited")
    func outboxSplitsAtOneHundred() {
        var outbox = LongPollOutbox()
        for index in 0..<250 {
            _ = outbox.add("m\(index)")
        }
        var posts: [[String]] = []
        posts.append(Array(outbox.closeBatch() ?? []))
        _ = outbox.add("late")
        while let next = outbox.acknowledged() {
            posts.append(Array(next))
        }
        #expect(posts.map(\.count) == [100, 100, 50, 1])
        #expect(posts.flatMap { $0 } == (0..<250).map { "m\($0)" } + ["late"])
    }

    @Test("answers parse status, token and messages")
    func answerParsing() throws {
        let created = try LongPollAnswer(parsing: ByteBuffer(string: #"{"status":410,"token":"abc","messages":[]}"#), httpStatus: 200)
        #expect(created == LongPollAnswer(status: 410, token: "abc", messages: []))
        let messages = try LongPollAnswer(
            parsing: ByteBuffer(string: #"{"status":200,"token":"abc","messages":["[null,null,\"t\",\"e\",{}]","x"]}"#),
            httpStatus: 200
        )
        #expect(messages.messages == [#"[null,null,"t","e",{}]"#, "x"])
        let posted = try LongPollAnswer(parsing: ByteBuffer(string: #"{"status":200}"#), httpStatus: 200)
        #expect(posted == LongPollAnswer(status: 200))
    }

    @Test("bad answers throw long_poll_failed", arguments: [
        "", "<html>502 Bad Gateway</html>", #"{"token":"abc"}"#, #"{"status":"200"}"#, "[1]",
        #"{"status":200,"messages":[1]}"#, #"{"status":200,"messages":"x"}"#, #"{"status":204,"token":5}"#,
    ])
    func badAnswers(body: String) {
        #expect(throws: ClientError.self) {
            _ = try LongPollAnswer(parsing: ByteBuffer(string: body), httpStatus: 502)
        }
        do {
            _ = try LongPollAnswer(parsing: ByteBuffer(string: body), httpStatus: 502)
        } catch {
            #expect(error.name == "long_poll_failed")
        }
    }

    @Test("the path's last /websocket becomes /longpoll, as phoenix.js normalizeEndpoint")
    func longPollPath() {
        #expect(LongPollRequests.longPollPath("/socket/websocket") == "/socket/longpoll")
        #expect(LongPollRequests.longPollPath("/websocket/live/websocket") == "/websocket/live/longpoll")
        #expect(LongPollRequests.longPollPath("/websocket") == "/longpoll")
        #expect(LongPollRequests.longPollPath("/socket") == "/socket")
    }

    @Test("polls carry params, vsn, token, Accept and the auth token header; posts carry ndjson")
    func requests() {
        var configuration = PhoenixClient.Configuration(host: "127.0.0.1", port: 4000)
        configuration.params = ["user": "ann b"]
        configuration.authToken = "s3cr3t"
        configuration.headers.add(name: "Origin", value: "http://localhost")
        let requests = LongPollRequests(configuration: configuration)
        let first = requests.poll(token: nil)
        #expect(first.method == .GET)
        #expect(first.uri == "/socket/longpoll?user=ann%20b&vsn=2.0.0")
        #expect(first.headers["Host"] == ["127.0.0.1:4000"])
        #expect(first.headers["Origin"] == ["http://localhost"])
        #expect(first.headers["Accept"] == ["application/json"])
        #expect(first.headers["X-Phoenix-AuthToken"] == ["s3cr3t"])
        let next = requests.poll(token: "SFMyNTY.g2g+/=")
        #expect(next.uri == "/socket/longpoll?user=ann%20b&vsn=2.0.0&token=SFMyNTY.g2g%2B%2F%3D")
        let post = requests.post(token: "t1")
        #expect(post.method == .POST)
        #expect(post.uri == "/socket/longpoll?user=ann%20b&vsn=2.0.0&token=t1")
        #expect(post.headers["Content-Type"] == ["application/x-ndjson"])
        #expect(post.headers["X-Phoenix-AuthToken"].isEmpty)
    }

    @Test("standard base64 follows RFC 4648 vectors, with padding")
    func base64Vectors() {
        #expect(Base64.encode(Array("".utf8)) == "")
        #expect(Base64.encode(Array("f".utf8)) == "Zg==")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.encode(Array("foo".utf8)) == "Zm9v")
        #expect(Base64.encode(Array("foob".utf8)) == "Zm9vYg==")
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode([0xFB, 0xFF]) == "+/8=")
    }
}
