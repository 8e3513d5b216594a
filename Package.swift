// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "repro",
    // Linux only: /proc, iptables and Linux's posix_spawn extensions (README, docs/ARCHITECTURE.md).
    products: [
        .executable(name: "repro", targets: ["repro"]),
        .executable(name: "repro-bench", targets: ["repro-bench"]),
        .library(name: "ReproKit", targets: ["ReproKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CMariaDB",
            pkgConfig: "libmariadb",
            providers: [.apt(["libmariadb-dev"])]
        ),
        .target(
            name: "ReproKit",
            dependencies: [
                "CMariaDB",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            plugins: ["EmbedData"]
        ),
        // docs/drivers.json and matrix/columns.yaml compiled into ReproKit at build time (`MeasuredDriversData.json`,
        // `MatrixColumnsData.yaml`): the plugin runs repro-embed on each, which writes it as a raw string literal into
        // the plugin's work directory.
        .executableTarget(name: "repro-embed"),
        .plugin(name: "EmbedData", capability: .buildTool(), dependencies: ["repro-embed"]),
        .executableTarget(
            name: "repro",
            dependencies: [
                "ReproKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "repro-bench",
            dependencies: ["ReproKit"]
        ),
        // What the tests share: a connection a test kills at will, its factory, a manual clock, sample reports.
        .target(name: "ReproTestSupport", dependencies: ["ReproKit"]),
        .testTarget(
            name: "ReproKitTests",
            dependencies: [
                "ReproKit", "ReproTestSupport",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        // No server, no child process, no sleeping: `make unit`, seconds after a build.
        .testTarget(
            name: "ReproUnitTests",
            dependencies: [
                "ReproKit", "ReproTestSupport",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "reproTests", dependencies: ["ReproKit", "ReproTestSupport", "repro"]),
    ],
    swiftLanguageModes: [.v6]
)
