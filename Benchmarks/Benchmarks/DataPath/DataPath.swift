import Benchmark
import NIOCore
import Switchboard
@_spi(Benchmarks) import SwitchboardTesting

/// Micro-benchmarks of the data path. Names carry no spaces: the threshold
/// files are looked up by name.
/// Mallocs (and instructions, where the
/// machine exposes hardware counters) are the figures the regression check
/// uses: they stay stable on a noisy machine; wall time is printed only.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.instructions, .mallocCountTotal, .wallClock, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 20,
        thresholds: [
            .instructions: .init(relative: [.p50: 15], absolute: [:]),
            .mallocCountTotal: .init(relative: [.p50: 10], absolute: [.p50: 2]),
        ]
    )

    let chatPayload: JSONValue = ["user": "alice", "body": "hello, world — how is everyone?", "ts": 1_732_300_000_123, "tags": ["a", "b"]]
    let clientFrame = ByteBuffer(string: #"["3","17","room:lobby","new_msg",{"user":"alice","body":"hello, world — how is everyone?","ts":1732300000123,"tags":["a","b"]}]"#)
    let serializer = V2Serializer()

    Benchmark("decode_v2_client_frame") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try serializer.decodeClientFrame(clientFrame, kind: .text, limits: .default))
        }
    }

    Benchmark("encode_v2_broadcast_frame") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try FanoutHarness.encodeBroadcastFrame(topic: "room:lobby", event: "new_msg", payload: .json(chatPayload)))
        }
    }

    Benchmark("parse_json_payload") { benchmark in
        let json = ByteBuffer(string: chatPayload.jsonString)
        for _ in benchmark.scaledIterations {
            blackHole(try JSONValue.parse(json, maxDepth: 32))
        }
    }

    Benchmark("encode_v2_reply_frame") { benchmark in
        let reply = OutboundFrame.reply(Reply(joinRef: "3", ref: "17", topic: "room:lobby", status: .ok, response: .json(chatPayload)))
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        for _ in benchmark.scaledIterations {
            buffer.clear()
            blackHole(try serializer.encodeServerFrame(reply, into: &buffer))
        }
    }

    // Fan-out: one broadcast encoded once and written to every subscriber
    // (then read back off the in-memory channels). Per-subscriber mallocs
    // must stay at zero: the three sizes must show the same count.
    for subscribers in [1, 100, 10_000] {
        Benchmark(
            "fanout_broadcast_to_\(subscribers)_subscribers",
            configuration: .init(scalingFactor: .one, maxIterations: subscribers >= 10_000 ? 50 : 1_000)
        ) { benchmark, harness in
            for _ in benchmark.scaledIterations {
                try harness.broadcast(.json(chatPayload))
                blackHole(try harness.drain())
            }
        } setup: {
            try FanoutHarness(subscribers: subscribers)
        }
    }
}
