// swift-tools-version: 6.1
import PackageDescription

// Micro-benchmarks of Switchboard's data path, in a package of their own so
// the main build and test run never compile the benchmark dependencies.
// Run: swift package --package-path Benchmarks benchmark
let package = Package(
    name: "switchboard-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "switchboard", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "DataPath",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Switchboard", package: "switchboard"),
                .product(name: "SwitchboardTesting", package: "switchboard"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Benchmarks/DataPath",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
