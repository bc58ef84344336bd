// swift-tools-version:6.0
import PackageDescription

// Benchmarks for nim-proxy, kept out of the product's package so its build stays lean.
// `bash bench/run.sh` builds this and the product in release mode and runs every part.
let package = Package(
    name: "nim-proxy-bench",
    dependencies: [
        // The product package one folder up; named so products resolve whatever the clone's folder is.
        .package(name: "nim-proxy", path: ".."),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .executableTarget(
            name: "bench-tool",
            dependencies: [
                .product(name: "EventLoop", package: "nim-proxy"),
                .product(name: "Tokenizer", package: "nim-proxy"),
                .product(name: "NIMProvider", package: "nim-proxy"),
                .product(name: "HTTPServer", package: "nim-proxy"),
                .product(name: "UpstreamClient", package: "nim-proxy"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),
    ]
)
