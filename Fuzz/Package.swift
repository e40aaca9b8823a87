// swift-tools-version: 6.2
// The coverage-guided fuzz target for the decoders, a package of its own so
// the main build never compiles it: `scripts/fuzz` builds it with
// `--sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address` and runs it over `corpus/`.
//
// `Sources/SwitchboardProtocol` is a link to the main package's module, so
// this package builds the decoders with the sanitizers itself and needs only
// NIO and the collections, not the main package's whole dependency graph.
import PackageDescription

let package = Package(
    name: "switchboard-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        .target(
            name: "SwitchboardProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "OrderedCollections", package: "swift-collections"),
            ]
        ),
        .executableTarget(
            name: "DecoderFuzzer",
            dependencies: [
                "SwitchboardProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
    ]
)
