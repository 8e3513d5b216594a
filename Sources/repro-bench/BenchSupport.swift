import Foundation
import ReproKit

/// Sorted samples and the figures a table shows.
struct Stats: Codable {
    var count: Int
    var p50: Double
    var p99: Double
    var mean: Double

    init(_ samples: [Double]) {
        let sorted = samples.sorted()
        count = sorted.count
        p50 = PolicyCost.percentile(sorted, 0.50)
        p99 = PolicyCost.percentile(sorted, 0.99)
        mean = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
    }
}

func micros(_ d: Duration) -> Double { EventLog.milliseconds(d) * 1000 }

func log(_ text: String) { Console.err(text + "\n") }

func fmt(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }

/// Runs a command, waits (bounded); returns wall seconds, exit status, output and the command's own peak RSS (MiB,
/// VmHWM read from /proc while it runs — not its children, so the embedded mariadbd is not counted).
func timed(_ executable: String, _ arguments: [String], timeout: TimeInterval = 900) throws
    -> (seconds: Double, status: Int32, output: String, peakRSSMiB: Double)
{
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    let start = ContinuousClock.now
    try p.run()
    nonisolated(unsafe) var data = Data()
    let reader = Thread { data = pipe.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    let deadline = Date().addingTimeInterval(timeout)
    var peak = 0.0
    while p.isRunning && Date() < deadline {
        peak = max(peak, peakRSSMiB(pid: p.processIdentifier))
        Thread.sleep(forTimeInterval: 0.01)
    }
    if p.isRunning { p.terminate() }
    p.waitUntilExit()
    let seconds = EventLog.milliseconds(ContinuousClock.now - start) / 1000
    Thread.sleep(forTimeInterval: 0.05)
    return (seconds, p.terminationStatus, String(decoding: data, as: UTF8.self), peak)
}

/// VmHWM of a running process, MiB (0 once it is gone).
func peakRSSMiB(pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
    }
    return 0
}

/// Waits (bounded) until something accepts TCP connections on 127.0.0.1:port.
func waitForPort(_ port: Int, timeout: TimeInterval = 5) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        close(fd)
        if rc == 0 { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return false
}
