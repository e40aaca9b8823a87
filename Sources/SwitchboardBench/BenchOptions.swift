import ArgumentParser
import NIOCore
import SwitchboardClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The flags every `switchboard bench` mode shares.
struct BenchOptions: ParsableArguments {
    @Option(help: "Server address; loopback only (127.0.0.0/8, ::1, localhost).")
    var host = "127.0.0.1"

    @Option(help: "Server port.")
    var port = 4000

    @Option(help: ArgumentHelp("Comma-separated ports of more nodes on --host: connections are spread over --port and these, in turn.", valueName: "ports"))
    var morePorts: String?

    @Option(help: "WebSocket path.")
    var path = "/socket/websocket"

    @Option(help: "Sent as the connect param `token`.")
    var token: String?

    @Option(name: .customLong("param"), help: ArgumentHelp("Extra connect param (repeatable; default user_id=bench). `{index}` in the value becomes the connection's number (user_id=u{index}).", valueName: "key=value"))
    var params: [String] = []

    @Option(help: "Topic the connections join.")
    var topic = "room:bench"

    @Option(help: "Connections to open (default: per mode).")
    var connections: Int?

    @Option(help: "Rate (default: per mode): fanout broadcasts/s, echo pushes/s per connection (default closed loop), churn connects/s.")
    var rate: Double?

    @Option(help: "Seconds to measure.")
    var duration: Double = 10

    @Option(help: "Bytes of padding in each payload.")
    var payloadSize = 64

    @Option(help: "What fills a broadcast's payload (fanout): `padding` (one string of x) or `json` (a list of chat messages, as compressible as real JSON).")
    var payload = BroadcastPayload.Shape.padding

    @Flag(help: "Offer permessage-deflate and inflate what the server compresses (lean receivers of fanout).")
    var compress = false

    @Option(help: "How connections reach the server: `websocket`, `longpoll` (the full client over long-poll), or `fallback` (WebSocket, falling back to long-poll as phoenix.js does with longPollFallbackMs 1500).")
    var transport = BenchTransport.websocket

    @Option(help: "Of the connections, this many (the first ones) use long-poll whatever --transport says: a mixed population.")
    var longpollConnections = 0

    @Option(help: ArgumentHelp("Comma-separated local source addresses, connections spread over them (e.g. 127.0.0.2,127.0.0.3).", valueName: "addresses"))
    var sourceAddresses: String?

    @Option(help: "Connections opened per second while ramping up.")
    var connectRate: Double = 2000

    @Option(help: "Connection attempts in flight at once while ramping up.")
    var connectConcurrency = 64

    @Option(help: "Seconds a connect or join may take.")
    var joinTimeout: Double = 10

    @Flag(help: "Send Phoenix heartbeats every 30 s (the server closes silent connections after its heartbeat timeout, 60 s by default).")
    var heartbeat = false

    @Option(help: "Server pid: sample its CPU time and RSS (from /proc) at the start and end of the measured window.")
    var serverPid: Int32?

    @Flag(help: "Print the final report as one JSON object on stdout.")
    var json = false

    @Option(help: "Client event loop threads.")
    var threads = 1

    mutating func validate() throws {
        guard Self.isLoopback(self.host) else {
            throw ValidationError("--host \(self.host): the bench only targets loopback addresses")
        }
        guard (1...65535).contains(self.port) else { throw ValidationError("--port must be 1…65535") }
        for port in self.ports where !(1...65535).contains(port) {
            throw ValidationError("--more-ports: \(port) is not a port (1…65535)")
        }
        guard self.path.hasPrefix("/") else { throw ValidationError("--path must start with /") }
        for param in self.params where !param.contains("=") || param.hasPrefix("=") {
            throw ValidationError("--param \(param): expected key=value")
        }
        if let connections = self.connections, !(1...1_000_000).contains(connections) {
            throw ValidationError("--connections must be 1…1000000")
        }
        if let rate = self.rate, !(rate > 0 && rate <= 10_000_000) {
            throw ValidationError("--rate must be > 0 (and at most 10000000)")
        }
        guard self.duration > 0 && self.duration <= 86_400 else { throw ValidationError("--duration must be > 0 and at most 86400 s") }
        guard (0...(512 << 10)).contains(self.payloadSize) else { throw ValidationError("--payload-size must be 0…524288") }
        guard self.connectRate > 0 else { throw ValidationError("--connect-rate must be > 0") }
        guard (1...100_000).contains(self.connectConcurrency) else { throw ValidationError("--connect-concurrency must be 1…100000") }
        guard self.joinTimeout > 0 && self.joinTimeout <= 600 else { throw ValidationError("--join-timeout must be > 0 and at most 600 s") }
        guard (1...256).contains(self.threads) else { throw ValidationError("--threads must be 1…256") }
        guard self.longpollConnections >= 0 else { throw ValidationError("--longpoll-connections must be 0 or more") }
        if self.compress && self.transport != .websocket {
            throw ValidationError("--compress is a WebSocket extension: use it with --transport websocket")
        }
        for address in self.sources {
            guard (try? SocketAddress(ipAddress: address, port: 0)) != nil else {
                throw ValidationError("--source-addresses: \(address) is not an IP address")
            }
            guard Self.isLoopback(address) else {
                throw ValidationError("--source-addresses: \(address) is not a loopback address")
            }
        }
        if let pid = self.serverPid, ServerSample.read(pid: pid) == nil {
            throw ValidationError("--server-pid \(pid): cannot read /proc/\(pid)/stat and status")
        }
    }

    // MARK: - Derived settings

    /// The source addresses, in order.
    var sources: [String] {
        guard let sourceAddresses else { return [] }
        return sourceAddresses.split(separator: ",").map { String($0.trimmingSpaces) }.filter { !$0.isEmpty }
    }

    /// `--port` then `--more-ports`: connection `index` goes to `ports[index % ports.count]`.
    var ports: [Int] {
        [self.port] + (self.morePorts ?? "").split(separator: ",").map { Int($0.trimmingSpaces) ?? 0 }
    }

    /// Connect params of connection `index`: `--param`s (default
    /// `user_id=bench`, `{index}` replaced) and `token`.
    func connectParams(index: Int) -> [String: String] {
        var params: [String: String] = [:]
        if self.params.isEmpty {
            params["user_id"] = "bench"
        }
        for param in self.params {
            let parts = param.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            params[String(parts[0])] = parts.count > 1 ? parts[1].replacingOccurrences(of: "{index}", with: String(index)) : ""
        }
        if let token = self.token {
            params["token"] = token
        }
        return params
    }

    var joinTimeoutAmount: TimeAmount { .nanoseconds(Int64(self.joinTimeout * 1e9)) }

    /// The client settings for connection number `index`: no reconnects
    /// (unless `reconnect`), no message recording, heartbeats only with
    /// `--heartbeat`, source addresses taken in turn.
    func clientConfiguration(
        index: Int, group: any EventLoopGroup, heartbeat: Bool? = nil, reconnect: Bool = false, transport: BenchTransport? = nil
    ) -> PhoenixClient.Configuration {
        let sources = self.sources
        let transport = transport ?? self.transport
        return PhoenixClient.Configuration(
            host: self.host,
            port: self.ports[index % self.ports.count],
            path: self.path,
            params: self.connectParams(index: index),
            heartbeatInterval: (heartbeat ?? self.heartbeat) ? .seconds(30) : nil,
            timeout: self.joinTimeoutAmount,
            reconnect: reconnect,
            localAddress: sources.isEmpty ? nil : sources[index % sources.count],
            eventLoopGroup: group,
            connectTimeout: self.joinTimeoutAmount,
            recordsMessages: false,
            transport: transport == .longpoll ? .longPoll : .webSocket,
            longPollFallback: transport == .fallback ? .milliseconds(1500) : nil
        )
    }

    /// The transport of connection number `index` (``longpollConnections``).
    func transport(forConnection index: Int) -> BenchTransport {
        index < self.longpollConnections ? .longpoll : self.transport
    }

    /// `padding` bytes of `x`.
    var padding: String { String(repeating: "x", count: self.payloadSize) }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else { return false }
        return octets[0] == "127"
    }
}

/// `--transport`.
enum BenchTransport: String, ExpressibleByArgument, CaseIterable, Sendable {
    case websocket
    case longpoll
    case fallback

    /// Whether the lean WebSocket receiver can stand in for the full client.
    var allowsLeanClient: Bool { self == .websocket }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var result = self
        while result.first == " " { result.removeFirst() }
        while result.last == " " { result.removeLast() }
        return result
    }
}
