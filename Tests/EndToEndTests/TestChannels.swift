import Switchboard

/// Channels that exercise the server's edge cases in end-to-end tests.
enum TestChannels {
    /// Throws on `boom`; replies ok to everything else.
    struct Crashing: Channel {
        struct Boom: Error {}
        func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult {
            if payload["crash_on_join"]?.boolValue == true { throw Boom() }
            return .ok([:])
        }
        func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult {
            if event == "boom" { throw Boom() }
            return .ok(["event": .string(event)])
        }
    }

    /// `slow` sleeps for `ms` milliseconds before replying; `fast` replies at once.
    struct Slow: Channel {
        func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult { .ok([:]) }
        func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult {
            if event == "slow", case .json(let json) = payload {
                try await Task.sleep(for: .milliseconds(json["ms"]?.intValue ?? 500))
            }
            return .ok(["event": .string(event)])
        }
    }

    /// Intercepts `secret` (dropped) and `shout` (rewritten to upper case).
    struct Intercepting: Channel {
        static var intercepts: Set<String> { ["secret", "shout"] }
        func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult { .ok([:]) }
        func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult {
            try await context.broadcastFrom(event, payload)
            return .ok()
        }
        func handleOut(event: String, payload: Payload, context: ChannelContext) async throws -> HandleOutResult {
            guard event == "shout", case .json(let json) = payload, let text = json["text"]?.stringValue else { return .drop }
            return .push(.json(["text": .string(text.uppercased())]))
        }
    }

    /// Answers `later` after a delay through a reply reference, ticks with
    /// a timer on `tick`, and stops on `stop`.
    actor Deferred: Channel {
        private var ticks = 0
        func join(topic: String, payload: JSONValue, context: ChannelContext) async throws -> JoinResult { .ok([:]) }
        func handleIn(event: String, payload: Payload, context: ChannelContext) async throws -> HandleInResult {
            switch event {
            case "later":
                let ref = context.replyRef!
                Task {
                    try await Task.sleep(for: .milliseconds(30))
                    context.reply(to: ref, status: .ok, payload: .json(["late": true]))
                }
                return .noReply
            case "tick":
                context.send("tick", after: .milliseconds(20))
                return .ok()
            case "stop":
                return .stop(reason: "asked", reply: (.ok, .json(["bye": true])))
            default:
                return .error(["reason": "unknown event"])
            }
        }
        func handleInfo(_ message: any Sendable, context: ChannelContext) async throws {
            ticks += 1
            context.push("tick", ["count": .int(ticks)])
        }
    }

    /// Refuses connections whose `token` param is not `"let-me-in"`.
    struct GuardedSocket: Socket {
        func connect(params: [String: String], info: ConnectInfo) async throws -> ConnectResult {
            params["token"] == "let-me-in" ? .ok(["user_id": "7"]) : .error
        }
    }
}
