import Foundation

/// A scenario's timeline as an SVG picture, to look at instead of reading the event table.
///
/// Top: one lane per pooled connection, from its connect to its destroy, with a mark per event (borrow,
/// query ok, error, destroy, reconnect), coloured by outcome; past `laneLimit` connections the lanes
/// collapse into heat strips (connections open, successes, errors per time column). Shaded bands show the
/// idle period and the fault. Bottom: operations per second that reached the caller, succeeded and failed,
/// per time bucket, and the errors the pool absorbed (validation, retry, keepalive). Marks are merged per
/// pixel column, so the file stays small for a 10-minute run; plain SVG 1.1, no script, no external file.
public enum TimelineChart {
    /// More connections than this and the lanes become heat strips.
    public static let laneLimit = 40
    static let width = 1000.0
    static let left = 120.0
    static let right = 20.0
    static var plotWidth: Double { width - left - right }

    /// Colours by outcome, shared by the legend and the marks.
    enum Mark: String, CaseIterable {
        case connect, reconnect, borrow, ok, error, absorbed, destroy

        var colour: String {
            switch self {
            case .connect: "#1f77b4"
            case .reconnect: "#9467bd"
            case .borrow: "#999999"
            case .ok: "#2ca02c"
            case .error: "#d62728"
            case .absorbed: "#ff7f0e"
            case .destroy: "#333333"
            }
        }

        var label: String {
            switch self {
            case .connect: "connect"
            case .reconnect: "reconnect after the fault"
            case .borrow: "borrow"
            case .ok: "query ok"
            case .error: "error reached caller"
            case .absorbed: "error absorbed"
            case .destroy: "destroy / evict"
            }
        }
    }

    /// A shaded span of time with a caption (idle, fault, server down).
    struct Band {
        var from: Double
        var to: Double
        var colour: String
        var caption: String
    }

    /// The picture for one scenario.
    public static func svg(_ s: ScenarioResult) -> String {
        let end = max(
            1, s.durationMs, s.timeline.last?.atMs ?? 0, s.operationResults.map { $0.atMs + $0.durationMs }.max() ?? 0)
        let scale = TimeScale(activity: activity(s), end: end, from: left, width: plotWidth)
        let x = scale.x
        let lanes = Self.lanes(s)
        let heat = lanes.count > laneLimit
        let laneHeight = 12.0
        let top = 58.0
        let laneBlock = heat ? 3 * 18.0 : max(1, Double(lanes.count)) * laneHeight
        let panelTop = top + laneBlock + 34
        let panelHeight = 90.0
        let height = panelTop + panelHeight + 40

        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="#ffffff"/>

            """
        let outcome =
            s.firstUnhandledError.map { "error reached the caller: \($0.label)" } ?? "no error reached the caller"
        // The title stays inside the picture: cut with an ellipsis at about 7.6 px per bold 13 px character.
        let title =
            "\(s.name) — \(s.poolLabel), \(s.poolSize) connection(s), \(s.kind): \(outcome); recovered \(s.recovered ? "yes" : "no")"
        out += text(8, 16, DriversGrid.fitted(title, width: width - 16, charWidth: 7.6), weight: "bold", size: 13)
        // Legend.
        var lx = 8.0
        for mark in Mark.allCases {
            out += "<rect x=\"\(f(lx))\" y=\"26\" width=\"9\" height=\"9\" fill=\"\(mark.colour)\"/>\n"
            out += text(lx + 12, 34, mark.label)
            lx += 16 + Double(mark.label.count) * 6
        }

        // Bands behind everything.
        let bands = Self.bands(s)
        for band in bands {
            let x0 = x(band.from)
            let w = max(2, x(band.to) - x0)
            out +=
                "<rect x=\"\(f(x0))\" y=\"\(f(top - 6))\" width=\"\(f(w))\" height=\"\(f(panelTop + panelHeight - top + 6))\" fill=\"\(band.colour)\" opacity=\"0.18\"/>\n"
            out += text(x0 + 2, top - 8, band.caption, colour: "#555555")
        }

        if heat {
            out += heatStrips(s, lanes: lanes, top: top, x: x)
        } else {
            out += laneMarks(lanes, top: top, laneHeight: laneHeight, x: x, faultAt: s.faultAtMs)
        }

        out += panel(s, top: panelTop, height: panelHeight, end: end, bucket: bucketMs(linearMs: scale.linearMs), x: x)
        out += axis(y: panelTop + panelHeight, scale: scale)
        out += "</svg>\n"
        return out
    }

    /// Several scenarios in one picture, each chart under the one before (`repro report --format svg`).
    public static func svg(_ scenarios: [ScenarioResult]) -> String {
        if scenarios.count == 1 { return svg(scenarios[0]) }
        var parts: [(String, Double)] = []
        for s in scenarios {
            let one = svg(s)
            let height = Self.height(of: one)
            // Inner documents lose their XML declaration; nested <svg> elements keep their own coordinates.
            let body = one.split(separator: "\n", maxSplits: 1).last.map(String.init) ?? one
            parts.append((body, height))
        }
        let total = max(1, parts.reduce(0) { $0 + $1.1 })
        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(total))" \
            viewBox="0 0 \(Int(width)) \(Int(total))">
            <rect width="100%" height="100%" fill="#ffffff"/>

            """
        var y = 0.0
        for (body, height) in parts {
            out += body.replacingOccurrences(
                of: "<svg xmlns=\"http://www.w3.org/2000/svg\" ", with: "<svg y=\"\(Int(y))\" ")
            y += height
        }
        return out + "</svg>\n"
    }

    /// The height attribute of a chart this type made.
    static func height(of svg: String) -> Double {
        guard let range = svg.range(of: "height=\""),
            let close = svg[range.upperBound...].firstIndex(of: "\"")
        else { return 0 }
        return Double(svg[range.upperBound..<close]) ?? 0
    }

    // MARK: - Lanes

    struct Lane {
        var connection: Int
        var start: Double
        var end: Double?
        var marks: [(Double, Mark)]
    }

    static func lanes(_ s: ScenarioResult) -> [Lane] {
        var byConnection: [Int: Lane] = [:]
        for e in s.timeline {
            guard let c = e.connection else { continue }
            var lane = byConnection[c] ?? Lane(connection: c, start: e.atMs, end: nil, marks: [])
            let mark: Mark?
            switch e.event {
            case .connect:
                mark = (s.faultAtMs.map { e.atMs > $0 } ?? false) ? .reconnect : .connect
            case .borrow: mark = .borrow
            case .queryOK, .validateOK, .keepaliveOK: mark = .ok
            case .queryError, .connectFailed: mark = .error
            case .validateFailed, .keepaliveFailed, .retry: mark = .absorbed
            case .destroy, .evict, .evictedSocketEvent:
                lane.end = e.atMs
                mark = .destroy
            case .release, .scenario, .driverEvent: mark = nil
            }
            // Under load only the first routine events are kept: drawing them would suggest the rest were quiet.
            if let mark, s.load == nil || ![.borrow, .ok].contains(mark) { lane.marks.append((e.atMs, mark)) }
            byConnection[c] = lane
        }
        // An error that reached the caller is red on its lane even when the event log called it a query error
        // that a retry then absorbed: the error records say which.
        for e in s.errors {
            guard let c = e.connection, var lane = byConnection[c] else { continue }
            lane.marks.append((e.atMs, e.handledBy == nil ? .error : .absorbed))
            byConnection[c] = lane
        }
        return byConnection.keys.sorted().map { byConnection[$0]! }
    }

    static func laneMarks(
        _ lanes: [Lane], top: Double, laneHeight: Double, x: (Double) -> Double, faultAt: Double?
    ) -> String {
        var out = ""
        for (i, lane) in lanes.enumerated() {
            let y = top + Double(i) * laneHeight + laneHeight / 2
            out += text(8, y + 4, "conn \(lane.connection)", colour: "#555555", size: 9)
            let x0 = x(lane.start)
            let x1 = lane.end.map(x) ?? (left + plotWidth)
            out +=
                "<line x1=\"\(f(x0))\" y1=\"\(f(y))\" x2=\"\(f(x1))\" y2=\"\(f(y))\" stroke=\"#cccccc\" stroke-width=\"3\"/>\n"
            // One mark per 2-pixel column, the most telling of what happened there (an error over a destroy
            // over an absorbed error, ... over a borrow): a 10-minute run stays a few hundred KB.
            var strongest: [Int: (Double, Mark)] = [:]
            let rank: [Mark: Int] = [
                .error: 6, .destroy: 5, .absorbed: 4, .reconnect: 3, .connect: 2, .ok: 1, .borrow: 0,
            ]
            for (at, mark) in lane.marks {
                let column = Int(x(at) / 2)
                if let current = strongest[column], rank[current.1]! >= rank[mark]! { continue }
                strongest[column] = (x(at), mark)
            }
            for column in strongest.keys.sorted() {
                let (px, kind) = strongest[column]!
                switch kind {
                case .destroy:
                    out +=
                        "<path d=\"M\(f(px - 3)) \(f(y - 3)) l6 6 m0 -6 l-6 6\" stroke=\"\(kind.colour)\" stroke-width=\"1.5\"/>\n"
                case .borrow:
                    out +=
                        "<line x1=\"\(f(px))\" y1=\"\(f(y - 4))\" x2=\"\(f(px))\" y2=\"\(f(y + 4))\" stroke=\"\(kind.colour)\"/>\n"
                default:
                    out +=
                        "<circle cx=\"\(f(px))\" cy=\"\(f(y))\" r=\"\(kind == .error ? 4 : 3)\" fill=\"\(kind.colour)\"/>\n"
                }
            }
        }
        return out
    }

    /// Past `laneLimit` lanes: three strips over time columns — connections open, successes, errors — each
    /// column shaded by its count relative to the strip's busiest column.
    static func heatStrips(_ s: ScenarioResult, lanes: [Lane], top: Double, x: @escaping (Double) -> Double) -> String {
        let columns = 200
        let columnWidth = plotWidth / Double(columns)
        let column = { (ms: Double) in min(columns - 1, max(0, Int((x(ms) - left) / plotWidth * Double(columns)))) }
        var open = [Int](repeating: 0, count: columns)
        var ok = open
        var errors = open
        for lane in lanes {
            let first = column(lane.start)
            let last = lane.end.map(column) ?? columns - 1
            if first <= last { for c in first...last { open[c] += 1 } }
            for (at, mark) in lane.marks {
                switch mark {
                case .ok: ok[column(at)] += 1
                case .error, .absorbed: errors[column(at)] += 1
                default: break
                }
            }
        }
        var out = ""
        let strips: [(String, [Int], String)] = [
            ("\(lanes.count) connections open", open, "#1f77b4"), ("successes", ok, Mark.ok.colour),
            ("errors", errors, Mark.error.colour),
        ]
        for (i, strip) in strips.enumerated() {
            let y = top + Double(i) * 18
            out += text(8, y + 12, strip.0, colour: "#555555", size: 9)
            let peak = max(1, strip.1.max() ?? 1)
            for (c, count) in strip.1.enumerated() where count > 0 {
                out +=
                    "<rect x=\"\(f(left + Double(c) * columnWidth))\" y=\"\(f(y))\" width=\"\(f(columnWidth + 0.3))\" height=\"14\" fill=\"\(strip.2)\" opacity=\"\(f(0.15 + 0.85 * Double(count) / Double(peak)))\"/>\n"
            }
        }
        return out
    }

    // MARK: - Bands, panel, axis

    static func bands(_ s: ScenarioResult) -> [Band] {
        var out: [Band] = []
        let firstOperation = s.operationResults.first?.atMs
        if s.load == nil, let idle = s.idleBeforeOperationsMs, let firstOperation, idle > 0 {
            out.append(Band(from: firstOperation - idle, to: firstOperation, colour: "#7f7f7f", caption: "idle"))
        }
        // A fault that lasts (a planned restart: the server's downtime, from the stop to its first answer again).
        if let window = s.faultWindow {
            out.append(Band(from: window.fromMs, to: window.toMs, colour: "#9467bd", caption: window.what))
        }
        if let fault = s.faultAtMs {
            // The fault itself is an instant; the band runs to the first operation after it, or a sliver.
            let until = max(fault + 1, min(firstOperation ?? fault, fault + 0.05 * max(1, s.durationMs)))
            out.append(Band(from: fault, to: until, colour: "#d62728", caption: "fault"))
        }
        return out
    }

    /// Bucket size: 100 ms, widened so there are at most 200 buckets (a 10-minute run: 5 s buckets); a
    /// short run (under 2 s of activity) gets about 40 buckets over its activity instead.
    static func bucketMs(linearMs: Double) -> Double {
        if linearMs < 2000 { return max(1, niceStep(linearMs / 40)) }
        var size = 100.0
        while linearMs / size > 200 { size = niceStep(size * 2) }
        return size
    }

    static func panel(
        _ s: ScenarioResult, top: Double, height: Double, end: Double, bucket: Double, x: (Double) -> Double
    ) -> String {
        let count = Int((end / bucket).rounded(.up)) + 1
        var ok = [Int](repeating: 0, count: count)
        var failed = ok
        var absorbed = ok
        if let load = s.load {
            // Under load only failed operations are kept: the counts come from the load summary's buckets.
            for b in load.buckets {
                let i = min(count - 1, Int((b.atMs + load.bucketMs / 2) / bucket))
                ok[i] += b.succeeded
                failed[i] += b.failed
                absorbed[i] += b.absorbed
            }
        } else {
            for op in s.operationResults {
                let b = min(count - 1, Int((op.atMs + op.durationMs) / bucket))
                if op.succeeded { ok[b] += 1 } else { failed[b] += 1 }
            }
            for e in s.errors where e.handledBy != nil { absorbed[min(count - 1, Int(e.atMs / bucket))] += 1 }
        }
        let perSecond = 1000 / bucket
        let peak = max(1, (0..<count).map { Double(ok[$0] + failed[$0]) * perSecond }.max() ?? 1)
        var out =
            "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(height))\" fill=\"none\" stroke=\"#dddddd\"/>\n"
        out += text(8, top + 12, "operations/s", colour: "#555555", size: 9)
        out += text(
            8, top + 24, "(\(bucket >= 1 ? String(Int(bucket)) : String(bucket)) ms buckets)", colour: "#555555",
            size: 9)
        out += text(8, top + height, "peak \(f(peak))/s", colour: "#555555", size: 9)
        for b in 0..<count where ok[b] + failed[b] + absorbed[b] > 0 {
            let x0 = x(Double(b) * bucket)
            let barWidth = max(1.5, x(Double(b + 1) * bucket) - x0 - 0.5)
            let okHeight = Double(ok[b]) * perSecond / peak * (height - 4)
            // A single failure among thousands of operations still shows: at least 3 px.
            let failHeight = failed[b] > 0 ? max(3, Double(failed[b]) * perSecond / peak * (height - 4)) : 0
            if ok[b] > 0 {
                out +=
                    "<rect x=\"\(f(x0))\" y=\"\(f(top + height - okHeight))\" width=\"\(f(barWidth))\" height=\"\(f(okHeight))\" fill=\"\(Mark.ok.colour)\"/>\n"
            }
            if failed[b] > 0 {
                out +=
                    "<rect x=\"\(f(x0))\" y=\"\(f(top + height - okHeight - failHeight))\" width=\"\(f(barWidth))\" height=\"\(f(failHeight))\" fill=\"\(Mark.error.colour)\"/>\n"
            }
            if absorbed[b] > 0 {
                out +=
                    "<rect x=\"\(f(x0))\" y=\"\(f(top + 1))\" width=\"\(f(barWidth))\" height=\"4\" fill=\"\(Mark.absorbed.colour)\"/>\n"
            }
        }
        return out
    }

    static func axis(y: Double, scale: TimeScale) -> String {
        var out = ""
        for segment in scale.segments {
            let x0 = scale.x(segment.from)
            let x1 = scale.x(segment.to)
            if segment.compressed {
                // A long quiet stretch drawn short: a broken axis with its real length written under it.
                out +=
                    "<path d=\"M\(f(x0)) \(f(y)) l4 -4 l4 8 l4 -8 l4 8 l4 -4 L\(f(x1)) \(f(y))\" fill=\"none\" stroke=\"#333333\"/>\n"
                out += text(
                    (x0 + x1) / 2 - 22, y + 16, "… \(seconds(segment.to - segment.from)) s …", colour: "#555555")
                continue
            }
            out +=
                "<line x1=\"\(f(x0))\" y1=\"\(f(y))\" x2=\"\(f(x1))\" y2=\"\(f(y))\" stroke=\"#333333\"/>\n"
            let pixels = max(1, x1 - x0)
            let step = niceStep((segment.to - segment.from) / max(1, (pixels / 90).rounded(.down)))
            var t = (segment.from / step).rounded(.up) * step
            while t <= segment.to + 0.001 {
                let px = scale.x(t)
                out += "<line x1=\"\(f(px))\" y1=\"\(f(y))\" x2=\"\(f(px))\" y2=\"\(f(y + 4))\" stroke=\"#333333\"/>\n"
                out += text(px - 10, y + 16, seconds(t, step: step))
                t += step
            }
        }
        out += text(left, y + 30, "time since start (s); quiet stretches are drawn short", colour: "#555555")
        return out
    }

    /// Times at which something happened (not the scenario's own notes), for the time scale.
    static func activity(_ s: ScenarioResult) -> [Double] {
        var times = s.timeline.filter { $0.event != .scenario }.map(\.atMs)
        if let window = s.faultWindow { times += [window.fromMs, window.toMs] }
        times += s.operationResults.flatMap { [$0.atMs, $0.atMs + $0.durationMs] }
        times += s.errors.map(\.atMs)
        // Under load the traffic is the activity (its routine events are not all kept).
        if let load = s.load { times += load.buckets.flatMap { [$0.atMs, $0.atMs + load.bucketMs] } }
        if let fault = s.faultAtMs { times.append(fault) }
        return times.sorted()
    }

    /// Time → x: linear over the stretches where things happen; a stretch with nothing in it longer than a
    /// tenth of the run (and 100 ms) is drawn 60 px wide, so an idle second does not squeeze five operations
    /// into one pixel. A busy run (load, ten minutes of traffic) has no such stretch and stays linear.
    struct TimeScale {
        struct Segment {
            var from: Double
            var to: Double
            var compressed: Bool
            var x0 = 0.0
            var width = 0.0
        }

        var segments: [Segment] = []
        /// Milliseconds drawn linearly (everything but the quiet stretches).
        var linearMs: Double { segments.filter { !$0.compressed }.reduce(0) { $0 + ($1.to - $1.from) } }

        init(activity: [Double], end: Double, from left: Double, width: Double) {
            let gapFloor = max(100, end / 10)
            var cuts: [(Double, Double)] = []
            var previous = 0.0
            for t in activity + [end] {
                if t - previous > gapFloor { cuts.append((previous + gapFloor / 20, t - gapFloor / 20)) }
                previous = max(previous, t)
            }
            var raw: [Segment] = []
            var cursor = 0.0
            for (a, b) in cuts {
                if a > cursor { raw.append(Segment(from: cursor, to: a, compressed: false)) }
                raw.append(Segment(from: a, to: b, compressed: true))
                cursor = b
            }
            if end > cursor || raw.isEmpty {
                raw.append(Segment(from: cursor, to: max(end, cursor + 1), compressed: false))
            }
            let gapWidth = 60.0
            let linear = raw.filter { !$0.compressed }.reduce(0) { $0 + ($1.to - $1.from) }
            let available = max(width * 0.2, width - gapWidth * Double(raw.filter(\.compressed).count))
            // Width: half by duration, half by how much happens there (warming 4 connections takes 10 ms,
            // five operations 5 ms: both deserve room).
            let counts = raw.map { seg in Double(activity.filter { $0 >= seg.from && $0 <= seg.to }.count) }
            let events = max(1, zip(raw, counts).filter { !$0.0.compressed }.reduce(0) { $0 + $1.1 })
            var x = left
            for (i, var segment) in raw.enumerated() {
                segment.x0 = x
                let share = 0.5 * (segment.to - segment.from) / max(linear, 1e-9) + 0.5 * counts[i] / events
                segment.width = segment.compressed ? gapWidth : share * available
                x += segment.width
                segments.append(segment)
            }
        }

        func x(_ ms: Double) -> Double {
            guard let first = segments.first, let last = segments.last else { return 0 }
            if ms <= first.from { return first.x0 }
            for segment in segments where ms <= segment.to {
                return segment.x0 + (ms - segment.from) / max(segment.to - segment.from, 1e-9) * segment.width
            }
            return last.x0 + last.width
        }
    }

    /// 1, 2 or 5 × a power of ten, at least `raw` ms.
    static func niceStep(_ raw: Double) -> Double {
        let power = pow(10, floor(log10(max(raw, 1))))
        for m in [1.0, 2, 5, 10] where m * power >= raw { return m * power }
        return 10 * power
    }

    /// Seconds with as many decimals as the tick step needs (step in ms).
    static func seconds(_ ms: Double, step: Double = 100) -> String {
        let decimals = step >= 1000 ? 0 : step >= 100 ? 1 : step >= 10 ? 2 : 3
        return String(format: "%.\(decimals)f", ms / 1000)
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func text(
        _ x: Double, _ y: Double, _ content: String, colour: String = "#222222", weight: String? = nil,
        size: Int? = nil
    ) -> String {
        var attributes = "x=\"\(f(x))\" y=\"\(f(y))\" fill=\"\(colour)\""
        if let weight { attributes += " font-weight=\"\(weight)\"" }
        if let size { attributes += " font-size=\"\(size)\"" }
        return "<text \(attributes)>\(escape(content))</text>\n"
    }

    /// XML text, through JUnit's escaper (one place); a label is one line, so line breaks become spaces.
    static func escape(_ text: String) -> String {
        JUnitRenderer.escape(String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 }))
    }
}
