import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Glue between one channel of a flow (client side or upstream side) and its `ProxyFlow`.
///
/// Reads are held back here (not buffered) while the other side is not writable, which is
/// what keeps a fast sender from filling the proxy's memory.
final class FlowSideHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let side: ProxyFlow.Side
    private let flow: ProxyFlow
    // Kept until handlerRemoved, like NIO's GlueHandler, so the other side can write through it.
    private var context: ChannelHandlerContext?
    private var readPending = false
    private var inputClosed = false
    // Set once the proxy shuts or closes this channel's output; an inactive channel without it
    // was torn down by an error.
    private var closingByUs = false

    init(side: ProxyFlow.Side, flow: ProxyFlow) {
        self.side = side
        self.flow = flow
    }

    var channel: Channel? { context?.channel }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        flow.attach(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        flow.received(unwrapInboundIn(data), from: side)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flow.readComplete(from: side)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        flow.writabilityChanged(of: side)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            flow.inputClosed(on: side)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        flow.inactive(side, aborted: !closingByUs)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // NIO closes the channel itself after a fatal read or write error; `channelInactive`
        // then tells the flow, which passes a reset on as a reset rather than a FIN.
    }

    func read(context: ChannelHandlerContext) {
        if flow.mayRead(side) {
            context.read()
        } else {
            readPending = true
        }
    }

    func send(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    /// Calls `body` once everything written so far is out (writes complete in order), or at once without a channel.
    func flushed(_ body: @escaping () -> Void) {
        guard let context else {
            body()
            return
        }
        let drained = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: drained)
        drained.futureResult.assumeIsolated().whenComplete { _ in body() }
    }

    func resumeReading() {
        guard readPending, let context else { return }
        readPending = false
        context.read()
    }

    /// Sends FIN once the queued writes are out; the channel closes fully when its input is done too.
    func shutdownOutput() {
        guard let context else { return }
        closingByUs = true
        context.flush()
        guard inputClosed else {
            context.close(mode: .output, promise: nil)
            return
        }
        // NIO escalates an output close on a channel whose input is already shut to a full
        // close, which drops queued writes; wait for them (writes complete in order) instead.
        let drained = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: drained)
        drained.futureResult.assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// Orderly close (FIN).
    func close() {
        closingByUs = true
        context?.close(promise: nil)
    }

    /// Abortive close: SO_LINGER {on, 0} makes the kernel's close() send RST instead of FIN.
    func reset() {
        guard let context else { return }
        closingByUs = true
        if let provider = context.channel as? SocketOptionProvider {
            // On the channel's own loop this runs setsockopt synchronously, so it precedes close().
            _ = provider.setSoLinger(linger(l_onoff: 1, l_linger: 0))
        }
        context.close(promise: nil)
    }
}
