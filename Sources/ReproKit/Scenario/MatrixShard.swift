import Foundation

/// One slice of a matrix's cells, for CI machines that each run a part (`repro matrix --drivers … --shard K/N`).
/// The cells are dealt by their expected time (`cost`: the waits a cell's scenario cannot avoid, plus a second of
/// setup), longest first, each to the shard with the least so far (ties: the lower shard, the earlier cell): every
/// cell is in exactly one shard whatever N, the same on every machine (the deal reads only the plan), and the
/// shards' times come out within one cell of each other. Each shard runs on its own server, so the cells that need
/// the server alone stay correct in every shard.
public struct MatrixShard: Sendable, Equatable, Codable, CustomStringConvertible {
    /// 1-based.
    public var index: Int
    public var count: Int

    public static let countRange = 1...64

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// `K/N`; the error names the problem and the form.
    public static func parse(_ text: String) throws(RunError) -> MatrixShard {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw .usage("--shard '\(text)' is not K/N: give this machine's shard and the number of shards, e.g. 2/4")
        }
        guard countRange.contains(n) else {
            throw .usage("--shard '\(text)': the number of shards must be \(countRange.text)")
        }
        guard (1...n).contains(k) else { throw .usage("--shard '\(text)': the shard must be 1 to \(n)") }
        return MatrixShard(index: k, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// What a cell is expected to take, seconds: the waits its scenario cannot avoid, plus a second of setup.
    public static func cost(_ cell: DriversMatrix.Cell) -> Double { cell.scenario.unavoidableWaitSeconds + 1 }

    /// The shard (1-based) of every cell of `cells`, in plan order: longest first, each to the least loaded shard.
    public static func deal(_ costs: [Double], count: Int) -> [Int] {
        var loads = [Double](repeating: 0, count: count)
        var shard = [Int](repeating: 0, count: costs.count)
        let order = costs.indices.sorted { (costs[$0], $1) > (costs[$1], $0) }
        for index in order {
            let least = loads.indices.min { (loads[$0], $0) < (loads[$1], $1) } ?? 0
            shard[index] = least + 1
            loads[least] += costs[index]
        }
        return shard
    }

    /// The cells of this shard, in plan order.
    public func select(_ cells: [DriversMatrix.Cell]) -> [DriversMatrix.Cell] {
        let shards = Self.deal(cells.map(Self.cost), count: count)
        return cells.indices.filter { shards[$0] == index }.map { cells[$0] }
    }
}

extension DriversReport {
    /// Why shard reports cannot be merged: one line naming the file and the fix.
    public struct MergeError: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The shards of one plan merged into the report an unsharded run of it writes: every row in the plan's
    /// order, each row's cells in column order, every command. Refused, naming the file: a report that is not a
    /// shard, shards of another plan, of another repro, of another server version or another shard count, a shard
    /// given twice or missing, a cell in two shards.
    public static func merge(_ given: [(name: String, report: DriversReport)]) throws(MergeError) -> DriversReport {
        // In shard order, whatever order they were given in: the same shards always merge to the same bytes.
        let shards = given.sorted { ($0.report.shard?.index ?? 0) < ($1.report.shard?.index ?? 0) }
        guard let first = shards.first else { throw MergeError(message: "--merge needs the shards' reports") }
        var seen: [Int: String] = [:]
        for (name, report) in shards {
            guard let shard = report.shard, let plan = report.plan else {
                throw MergeError(
                    message: "\(name) is not a shard's report: give the drivers.json each `--shard K/N` run wrote")
            }
            let firstShard = first.report.shard
            if plan != first.report.plan {
                throw MergeError(
                    message:
                        "\(name) is a shard of another plan than \(first.name) (other rows, columns or settings): run every shard with the same flags and repro"
                )
            }
            if report.repro != first.report.repro {
                throw MergeError(
                    message:
                        "\(name) was written by repro \(report.repro), \(first.name) by repro \(first.report.repro): run every shard with one build"
                )
            }
            if report.server.version != first.report.server.version {
                throw MergeError(
                    message:
                        "\(name) ran on MariaDB \(report.server.version), \(first.name) on \(first.report.server.version): run every shard on the same server version"
                )
            }
            if shard.count != firstShard?.count {
                throw MergeError(
                    message:
                        "\(name) is shard \(shard) and \(first.name) shard \(firstShard.map(\.description) ?? "?"): give the shards of one --shard K/N split"
                )
            }
            if let other = seen[shard.index] {
                throw MergeError(message: "shard \(shard) is given twice: \(other) and \(name)")
            }
            seen[shard.index] = name
        }
        let count = first.report.shard?.count ?? 1
        if let missing = (1...count).first(where: { seen[$0] == nil }) {
            throw MergeError(message: "shard \(missing)/\(count) is missing: give all \(count) shards' reports")
        }
        var merged = first.report
        merged.shard = nil
        merged.generatedAt = shards.map(\.report.generatedAt).max() ?? merged.generatedAt
        let order = merged.columns.map(\.id)
        for (index, row) in merged.rows.enumerated() {
            var cells: [Cell] = []
            var from: [MatrixColumn: String] = [:]
            var client: Report.Client?
            for (name, report) in shards {
                guard let theirs = report.row(row.id) else {
                    throw MergeError(message: "\(name) has no row '\(row.id)': it is not a shard of this plan")
                }
                for cell in theirs.cells {
                    if let other = from[cell.column] {
                        throw MergeError(
                            message: "cell \(row.id)/\(cell.column.id) is in two shards: \(other) and \(name)")
                    }
                    from[cell.column] = name
                    cells.append(cell)
                }
                if client == nil && !theirs.cells.isEmpty { client = theirs.client }
            }
            cells.sort { (order.firstIndex(of: $0.column) ?? 0) < (order.firstIndex(of: $1.column) ?? 0) }
            merged.rows[index].cells = cells
            merged.rows[index].client = client ?? row.client
        }
        return merged
    }
}
