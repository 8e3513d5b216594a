import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A tiny NIO upstream for proxy tests: echoes, or streams a deterministic payload, and records what each connection saw.
final class ProxyTestUpstream: Sendable {
    enum Behaviour: Sendable {
        case echo
        /// Sends `bytes` of `ProxyTestUpstream.pattern` as soon as a connection opens, honouring writability.
        case stream(bytes: Int)
    }

    struct Connection: Sendable {
        var received = 0
        var sentToKernel = 0
        var sawEOF = false
        var sawReset = false
        var closed = false
    }

    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let connections = Mutex<[Connection]>([])
    private let channel: Mutex<Channel?> = Mutex(nil)
    private let accepted = Mutex<[Int: Channel]>([:])

    var port: Int {
        channel.withLock { $0?.localAddress?.port ?? 0 }
    }

    static func pattern(_ index: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: index &+ index / 251 &* 7)
    }

    static func pattern(count: Int, from start: Int = 0) -> [UInt8] {
        (start..<(start + count)).map(pattern)
    }

    /// Starts listening on 127.0.0.1:0 and returns the port.
    func start(_ behaviour: Behaviour = .echo) throws -> Int {
        let server = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let index = self.connections.withLock { list in
                        list.append(Connection())
                        return list.count - 1
                    }
                    self.accepted.withLock { $0[index] = channel }
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(upstream: self, index: index, behaviour: behaviour))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .wait()
        channel.withLock { $0 = server }
        return server.localAddress!.port!
    }

    func connection(_ index: Int) -> Connection? {
        connections.withLock { index < $0.count ? $0[index] : nil }
    }

    /// Closes connection `index` from the server side, the way `wait_timeout` does.
    func closeConnection(_ index: Int) {
        let channel = accepted.withLock { $0[index] }
        try? channel?.close().wait()
    }

    func stop() {
        let server = channel.withLock { $0 }
        try? server?.close().wait()
        try? group.syncShutdownGracefully()
    }

    private func update(_ index: Int, _ body: (inout Connection) -> Void) {
        connections.withLock { body(&$0[index]) }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let upstream: ProxyTestUpstream
        let index: Int
        let behaviour: Behaviour
        var streamed = 0

        init(upstream: ProxyTestUpstream, index: Int, behaviour: Behaviour) {
            self.upstream = upstream
            self.index = index
            self.behaviour = behaviour
        }

        func channelActive(context: ChannelHandlerContext) {
            pump(context)
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            pump(context)
        }

        private func pump(_ context: ChannelHandlerContext) {
            guard case .stream(let total) = behaviour else { return }
            let upstream = self.upstream
            let index = self.index
            while streamed < total, context.channel.isWritable {
                let count = min(65_536, total - streamed)
                let buffer = context.channel.allocator.buffer(
                    bytes: ProxyTestUpstream.pattern(count: count, from: streamed))
                streamed += count
                context.writeAndFlush(wrapOutboundOut(buffer)).whenSuccess {
                    upstream.update(index) { $0.sentToKernel += count }
                }
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            upstream.update(index) { $0.received += buffer.readableBytes }
            if case .echo = behaviour {
                context.write(wrapOutboundOut(buffer), promise: nil)
            }
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            context.flush()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, event == .inputClosed {
                upstream.update(index) { $0.sawEOF = true }
                // Like a server answering the last request before hanging up: reply first, then FIN.
                context.flush()
                context.close(mode: .output, promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            if let error = error as? IOError, error.errnoCode == ECONNRESET {
                upstream.update(index) { $0.sawReset = true }
            }
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            upstream.update(index) { $0.closed = true }
        }
    }
}
