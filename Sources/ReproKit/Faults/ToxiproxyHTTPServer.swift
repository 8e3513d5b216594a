import Dispatch
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Serves a `ToxiproxyAPI` over HTTP/1.1 (`repro proxy --api`). Requests are answered one at a time, in arrival
/// order, on a queue of their own: the API's work (binding a proxy, waiting for flows to take a toxic) never runs on
/// an event loop.
public final class ToxiproxyHTTPServer: Sendable {
    private let api: ToxiproxyAPI
    private let queue = DispatchQueue(label: "repro.proxy.api")
    private let state = Mutex<(group: MultiThreadedEventLoopGroup?, channel: Channel?)>((nil, nil))

    public init(api: ToxiproxyAPI) {
        self.api = api
    }

    /// Binds `host:port` (0 picks a free port) and returns the port.
    public func start(host: String, port: Int) throws -> Int {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let api = api
        let queue = queue
        do {
            let channel = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(APIHandler(api: api, queue: queue))
                    }
                }
                .bind(host: host, port: port)
                .wait()
            state.withLock { $0 = (group, channel) }
            return channel.localAddress?.port ?? port
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    /// Stops answering; idempotent.
    public func stop() {
        let (group, channel) = state.withLock { state in
            defer { state = (nil, nil) }
            return state
        }
        try? channel?.close().wait()
        try? group?.syncShutdownGracefully()
    }
}

/// Collects one request (head, body up to `ToxiproxyAPI.maxBody`), has the queue answer it, writes the answer.
private final class APIHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let api: ToxiproxyAPI
    private let queue: DispatchQueue
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(api: ToxiproxyAPI, queue: DispatchQueue) {
        self.api = api
        self.queue = queue
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
            tooLarge = false
        case .body(var buffer):
            if body.count + buffer.readableBytes > ToxiproxyAPI.maxBody {
                tooLarge = true
            } else if let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let request = APIRequest(
                method: head.method.rawValue, target: head.uri,
                // One byte past the limit is enough for the API to refuse it by size.
                body: tooLarge ? [UInt8](repeating: 0x20, count: ToxiproxyAPI.maxBody + 1) : body,
                userAgent: head.headers.first(name: "User-Agent"))
            let keepAlive = head.isKeepAlive
            let version = head.version
            let api = api
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            queue.async {
                let response = api.handle(request)
                bound.eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.write(response, version: version, keepAlive: keepAlive, context: context)
                }
            }
        }
    }

    private func write(_ response: APIResponse, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        if let type = response.contentType { headers.add(name: "Content-Type", value: type) }
        let bytes = Array(response.body.utf8)
        headers.add(name: "Content-Length", value: "\(bytes.count)")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(
            version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !bytes.isEmpty {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
