import NIOCore
import Switchboard
import SwitchboardClient

/// One client connection of a ``ChannelTest``: join topics on it.
public struct ChannelTestClient: Sendable {
    /// The underlying Phoenix client, for what the kit does not wrap.
    public let client: PhoenixClient

    /// Joins `topic`; throws ``ChannelTestError`` with the server's response
    /// when the channel refuses the join.
    public func join(_ topic: String, _ payload: JSONValue = [:]) async throws -> JoinedChannel {
        let channel = client.channel(topic, params: payload)
        do {
            let response = try await channel.join()
            return JoinedChannel(channel: channel, joinResponse: response)
        } catch let error as ClientError where error.replyStatus != nil {
            throw ChannelTestError("join \(topic) refused (\(error.replyStatus!)): \(error.replyResponse ?? [:])")
        }
    }

    /// Closes the connection (the server ends its channels, as when a browser tab closes).
    public func disconnect() async {
        await client.disconnect()
    }
}

/// A channel joined in a ``ChannelTest``: push to it and wait for what the
/// server sends back.
public struct JoinedChannel: Sendable {
    /// The client side of the channel, for what the kit does not wrap.
    public let channel: ClientChannel
    /// The join's `ok` response.
    public let joinResponse: JSONValue

    public var topic: String { channel.topic }

    /// Pushes `event` and returns the reply (Phoenix's `push` + `assert_reply`).
    public func push(_ event: String, _ payload: JSONValue = [:], timeout: TimeAmount = .seconds(5)) async throws -> ChannelReply {
        let reply = try await channel.push(event, payload, timeout: timeout)
        return ChannelReply(status: reply.status, response: reply.response)
    }

    /// The next `event` the server pushed to this client, a broadcast or a
    /// push (Phoenix's `assert_push`). Throws ``ChannelTestError`` when none
    /// comes within `timeout`.
    public func nextPush(_ event: String, timeout: TimeAmount = .seconds(5)) async throws -> JSONValue {
        let message: Message
        do {
            message = try await channel.nextMessage(event: event, timeout: timeout)
        } catch ClientError.timeout {
            throw ChannelTestError("no \"\(event)\" pushed on \(topic) within \(timeout)")
        }
        guard case .json(let payload) = message.payload else {
            throw ChannelTestError("\"\(event)\" on \(topic) carried a binary payload")
        }
        return payload
    }

    /// Whether the server pushes `event` to this client within `timeout`
    /// (Phoenix's `refute_push` is `#expect(try await !channel.receives(...))`).
    public func receives(_ event: String, within timeout: TimeAmount = .milliseconds(200)) async throws -> Bool {
        do {
            _ = try await channel.nextMessage(event: event, timeout: timeout)
            return true
        } catch ClientError.timeout {
            return false
        }
    }

    /// Leaves the channel; returns once the server has acknowledged it.
    public func leave() async {
        await channel.leave()
    }
}

/// A reply to a push: its status and its response.
public struct ChannelReply: Sendable, Hashable, CustomStringConvertible {
    public var status: ReplyStatus
    public var response: Payload

    public init(status: ReplyStatus, response: Payload) {
        self.status = status
        self.response = response
    }

    /// An `ok` reply with a JSON response.
    public static func ok(_ response: JSONValue = [:]) -> ChannelReply {
        ChannelReply(status: .ok, response: .json(response))
    }

    /// An `error` reply with a JSON response.
    public static func error(_ response: JSONValue = [:]) -> ChannelReply {
        ChannelReply(status: .error, response: .json(response))
    }

    public var description: String { "\(status) \(response)" }
}
