// Placeholder until the iptables implementation lands: --via kernel reports itself unavailable.
public enum KernelCutMode: Sendable { case reset, blackhole, halfOpen }
public struct KernelCutError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
public final class KernelCut: Sendable {
    public static func checkAvailable() throws(KernelCutError) { throw KernelCutError(message: "--via kernel is not available in this build: use --via proxy") }
    public init(serverPort: Int, clientPorts: [Int], host: String = "127.0.0.1") throws(KernelCutError) {}
    public func apply(_ mode: KernelCutMode) throws(KernelCutError) {}
    public func remove() {}
    public var ruleSummary: [String] { [] }
}
