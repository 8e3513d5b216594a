import Foundation
import Yams

/// Reads `Scenarios/*.yml` into `Scenario` values, reporting every problem with its file and line before anything runs.
public enum ScenarioFile {
    /// Loads every scenario under the given paths (directories: their *.yml/*.yaml files, sorted; files: as given).
    public static func load(paths: [String]) throws(ScenarioFileError) -> [Scenario] {
        var files: [String] = []
        var problems: [ScenarioFileError.Problem] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                problems.append(.init(file: path, line: 0, message: "no such file or directory"))
                continue
            }
            if isDirectory.boolValue {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                let found = entries.filter { name in
                    guard name.hasSuffix(".yml") || name.hasSuffix(".yaml") else { return false }
                    var isDir: ObjCBool = false
                    let full = (path as NSString).appendingPathComponent(name)
                    return FileManager.default.fileExists(atPath: full, isDirectory: &isDir) && !isDir.boolValue
                }.sorted()
                if found.isEmpty {
                    problems.append(.init(file: path, line: 0, message: "no scenario files (*.yml) in this directory"))
                }
                files += found.map { (path as NSString).appendingPathComponent($0) }
            } else {
                files.append(path)
            }
        }
        // The same file named twice (`repro all Scenarios Scenarios`, a file and its directory) runs once.
        var unique = Set<String>()
        files = files.filter {
            unique.insert(URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path).inserted
        }
        var scenarios: [Scenario] = []
        var seen: [String: String] = [:]
        for file in files {
            var st = stat()
            guard stat(file, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                problems.append(
                    .init(
                        file: file, line: 1, message: "not a regular file: give scenario files (*.yml) or directories"))
                continue
            }
            guard let data = FileManager.default.contents(atPath: file) else {
                problems.append(.init(file: file, line: 1, message: "cannot read: \(String(cString: strerror(errno)))"))
                continue
            }
            guard let text = String(data: data, encoding: .utf8) else {
                problems.append(
                    .init(file: file, line: 1, message: "not a UTF-8 text file: scenario files are YAML text"))
                continue
            }
            do {
                let scenario = try parse(text, file: file)
                if let other = seen[scenario.name] {
                    problems.append(
                        .init(
                            file: file, line: 1,
                            message:
                                "duplicate scenario name '\(scenario.name)' (also in \(other)): names must be unique"))
                } else {
                    seen[scenario.name] = file
                    scenarios.append(scenario)
                }
            } catch {
                problems += error.problems
            }
        }
        if !problems.isEmpty { throw ScenarioFileError(problems: problems) }
        return scenarios
    }

    /// Parses one scenario document.
    public static func parse(_ text: String, file: String) throws(ScenarioFileError) -> Scenario {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ScenarioFileError(problems: [
                    .init(file: file, line: 1, message: "the file is empty: see Scenarios/README.md for the format")
                ])
            }
            root = node
        } catch let error as ScenarioFileError {
            throw error
        } catch let error as YamlError {
            throw ScenarioFileError(problems: [yamlProblem(error, file: file, text: text)])
        } catch {
            throw ScenarioFileError(problems: [.init(file: file, line: 1, message: "not valid YAML: \(error)")])
        }
        var reader = Reader(file: file)
        let scenario = reader.scenario(root)
        if let scenario, reader.problems.isEmpty { return scenario }
        // Sorted by line (stable): the reader walks mappings in whatever order they come.
        let sorted = reader.problems.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }
        throw ScenarioFileError(problems: sorted.map(\.element))
    }

    /// The fault of a `fault:` mapping given as (key, value) pairs (a matrix column's), read and checked by its
    /// kind's own reader as a scenario file's would be; values are plain YAML scalars.
    public static func fault(_ keys: [(String, String)], file: String) throws(ScenarioFileError) -> Fault {
        let body = keys.map { "  \($0.0): \($0.1)" }.joined(separator: "\n")
        return try parse("name: column\nfault:\n" + body + "\n", file: file).fault
    }

    /// One line per YAML error, never the file's text: Yams' own descriptions quote the whole document.
    static func yamlProblem(_ error: YamlError, file: String, text: String = "") -> ScenarioFileError.Problem {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return .init(file: file, line: mark.line, message: "not valid YAML: \(oneLine(problem))")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.sorted().first ?? ""
            let line = secondOccurrence(ofKey: key, in: text) ?? context.mark.line
            return .init(
                file: file, line: line,
                message: "duplicate key '\(oneLine(key))': each key may appear once in a mapping")
        case .reader(let problem, let offset, let value, let yaml):
            let line = offset.map { o in yaml.utf8.prefix(o).filter { $0 == 0x0A }.count + 1 } ?? 1
            let what = value >= 0 ? String(format: " (byte 0x%02X)", value) : ""
            return .init(
                file: file, line: line,
                message: "not valid YAML: \(oneLine(problem))\(what); remove control characters from the file")
        default:
            return .init(file: file, line: 1, message: "not valid YAML: \(oneLine("\(error)"))")
        }
    }

    /// The first line of `text`, cut to 120 characters.
    static func oneLine(_ text: String) -> String {
        let first = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return first.count > 120 ? String(first.prefix(117)) + "..." : first
    }

    /// The 1-based line where `key:` appears for the second time (any indentation), if it does.
    static func secondOccurrence(ofKey key: String, in yaml: String) -> Int? {
        var seen = 0
        for (index, line) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.drop { $0 == " " || $0 == "-" }
            if trimmed.hasPrefix(key + ":") || trimmed.hasPrefix("\"\(key)\":") {
                seen += 1
                if seen == 2 { return index + 1 }
            }
        }
        return nil
    }
}

/// Walks the YAML tree, collecting every problem instead of stopping at the first.
/// A fault kind's view of its `fault:` mapping (`FaultFields`), reporting problems through the reader.
private struct FileFaultFields: FaultFields {
    var reader: Reader
    let mapping: [String: (key: Node, value: Node)]
    let node: Node

    mutating func missing(_ key: String, _ hint: String) {
        reader.problem(node, "missing key 'fault.\(key)'\(hint.isEmpty ? "" : ": " + hint)")
    }

    mutating func int(_ key: String, range: ClosedRange<Int>, fallback: Int?, hint: String) -> Int? {
        guard let entry = mapping[key] else {
            if fallback == nil { missing(key, hint) }
            return fallback
        }
        return reader.int(entry.value, "fault.\(key)", range: range)
    }

    mutating func double(_ key: String, range: ClosedRange<Double>, fallback: Double?, hint: String) -> Double? {
        guard let entry = mapping[key] else {
            if fallback == nil { missing(key, hint) }
            return fallback
        }
        return reader.double(entry.value, "fault.\(key)", range: range)
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type, fallback: T?, hint: String)
        -> T? where T.RawValue == String
    {
        guard let entry = mapping[key] else {
            if fallback == nil { missing(key, hint) }
            return fallback
        }
        return reader.choice(entry.value, "fault.\(key)", type)
    }

    func text(_ key: String) -> String? { mapping[key]?.value.scalar?.string }

    mutating func problem(at key: String, _ message: String) { reader.problem(mapping[key]?.value ?? node, message) }
}

private struct Reader {
    let file: String
    var problems: [ScenarioFileError.Problem] = []

    init(file: String) { self.file = file }

    mutating func problem(_ node: Node?, _ message: String) {
        problems.append(.init(file: file, line: node?.mark?.line ?? 1, message: message))
    }

    /// The entries a merge key brings from `source`: its own keys first, then what its own merge keys bring (an
    /// anchored mapping may merge another); nil after a problem. Bounded: merges nested deeper than 16 stop.
    mutating func mergedEntries(_ source: Node, key: Node, what: String, depth: Int) -> [(key: Node, value: Node)]? {
        guard case .mapping(let m) = source else {
            problem(key, "'<<' in \(what) must merge a mapping (an alias like *defaults)")
            return nil
        }
        guard depth < 16 else {
            problem(key, "'<<' in \(what) merges mappings nested more than 16 deep: flatten them")
            return nil
        }
        var own: [(key: Node, value: Node)] = []
        var inherited: [(key: Node, value: Node)] = []
        for (k, v) in m {
            guard k.scalar?.string == "<<" else {
                own.append((k, v))
                continue
            }
            let sources: [Node] = if case .sequence(let list) = v { Array(list) } else { [v] }
            for inner in sources {
                guard let entries = mergedEntries(inner, key: k, what: what, depth: depth + 1) else { return nil }
                inherited += entries
            }
        }
        // A key the mapping sets itself wins over one it merges.
        let ownNames = Set(own.compactMap { $0.key.scalar?.string })
        return own + inherited.filter { !ownNames.contains($0.key.scalar?.string ?? "") }
    }

    /// The mapping's entries by key; unknown keys and duplicates become problems.
    mutating func mapping(_ node: Node, _ what: String, allowed: [String]) -> [String: (key: Node, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            problem(node, "\(what) must be a mapping of keys (\(allowed.joined(separator: ", ")))")
            return nil
        }
        var out: [String: (key: Node, value: Node)] = [:]
        var merged: [(key: Node, value: Node)] = []
        for (key, value) in mapping {
            // YAML merge keys (`<<: *defaults`): the merged mapping's keys count unless the mapping sets them.
            if key.scalar?.string == "<<" {
                let sources: [Node] = if case .sequence(let list) = value { Array(list) } else { [value] }
                for source in sources {
                    guard let entries = mergedEntries(source, key: key, what: what, depth: 0) else { continue }
                    merged += entries
                }
                continue
            }
            guard let name = key.scalar?.string.truncatedForMessage else {
                problem(key, "\(what): keys must be plain words")
                continue
            }
            if !allowed.contains(name) {
                let hint = closest(name, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
                problem(
                    key, "unknown key '\(name)' in \(what)\(hint): allowed keys are \(allowed.joined(separator: ", "))")
                continue
            }
            if out[name] != nil {
                problem(key, "duplicate key '\(name)' in \(what)")
                continue
            }
            out[name] = (key, value)
        }
        for (key, value) in merged {
            guard let name = key.scalar?.string, out[name] == nil else { continue }
            guard allowed.contains(name) else {
                problem(
                    key,
                    "unknown key '\(name.truncatedForMessage)' merged into \(what): allowed keys are \(allowed.joined(separator: ", "))"
                )
                continue
            }
            out[name] = (key, value)
        }
        return out
    }

    mutating func string(_ node: Node, _ what: String) -> String? {
        if case .scalar(let s) = node, s.string.count > 200 {
            problem(node, "\(what) is too long (\(s.string.count) characters): use at most 200")
            return nil
        }
        guard case .scalar(let s) = node, !s.string.isEmpty else {
            problem(node, "\(what) must be a text value")
            return nil
        }
        return s.string
    }

    mutating func int(_ node: Node, _ what: String, range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let s) = node, let v = Int(s.string) else {
            problem(
                node,
                "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(node.scalar?.string ?? "a \(kind(node))")'"
            )
            return nil
        }
        guard range.contains(v) else {
            problem(node, "\(what) \(v) is out of range: use \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return v
    }

    mutating func double(_ node: Node, _ what: String, range: ClosedRange<Double>) -> Double? {
        guard case .scalar(let s) = node, let v = Double(s.string) else {
            problem(node, "\(what) must be a number of seconds, got '\(node.scalar?.string ?? "a \(kind(node))")'")
            return nil
        }
        guard range.contains(v) else {
            problem(node, "\(what) \(v) is out of range: use \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return v
    }

    mutating func bool(_ node: Node, _ what: String) -> Bool? {
        guard case .scalar(let s) = node, let v = Bool(s.string.lowercased()) else {
            problem(node, "\(what) must be true or false")
            return nil
        }
        return v
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ what: String, _: T.Type) -> T?
    where T.RawValue == String {
        guard let text = string(node, what) else { return nil }
        guard let v = T(rawValue: text) else {
            problem(node, "\(what) '\(text)' is unknown: use \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return v
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .mapping: "mapping"
        case .sequence: "list"
        default: "value"
        }
    }

    // MARK: - The document

    mutating func scenario(_ root: Node) -> Scenario? {
        guard
            let top = mapping(
                root, "the scenario",
                allowed: ["name", "description", "fault", "policy", "driver", "pool", "workload", "expect"])
        else { return nil }
        var name: String?
        if let n = top["name"] {
            name = string(n.value, "name")
            if let v = name, v.range(of: "^[A-Za-z0-9][A-Za-z0-9._+-]*$", options: .regularExpression) == nil {
                problem(
                    n.value,
                    "name '\(v)' must be letters, digits, '.', '_', '+' or '-' (it names report entries and JUnit test cases)"
                )
            }
        } else {
            problem(root, "missing key 'name': every scenario needs a unique name")
        }
        let description = top["description"].flatMap { string($0.value, "description") }
        var fault: Fault?
        var idle: Double?
        if let f = top["fault"] {
            fault = self.fault(f.value, idle: &idle)
        } else {
            problem(
                root,
                "missing key 'fault': give fault.kind (\(Fault.kinds.map { $0.kind }.joined(separator: ", ")))")
        }
        // A kind may bound its scenarios' reads (a blackhole costs one read timeout per connection).
        let defaultReadTimeout = fault?.base.defaultReadTimeout
        var policy: PoolPolicy? = PolicyPreset.naive.policy
        if let p = top["policy"] {
            policy = self.policy(p.value, defaultReadTimeout: defaultReadTimeout)
        } else if let defaultReadTimeout {
            policy?.readTimeout = defaultReadTimeout
        }
        var size = 4
        if let p = top["pool"], let pool = mapping(p.value, "pool", allowed: ["size"]) {
            if let s = pool["size"] { size = int(s.value, "pool.size", range: Scenario.poolSizeRange) ?? size }
        }
        var operations: Int?
        var pattern = WorkloadPattern.pool
        var load: LoadSpec?
        if let w = top["workload"],
            let workload = mapping(
                w.value, "workload", allowed: ["operations", "pattern", "concurrency", "duration", "fault-at", "query"])
        {
            if let o = workload["operations"] {
                operations = int(o.value, "workload.operations", range: Scenario.operationsRange)
            }
            let concurrency = workload["concurrency"].flatMap {
                int($0.value, "workload.concurrency", range: LoadSpec.concurrencyRange)
            }
            let duration = workload["duration"].flatMap {
                double($0.value, "workload.duration", range: LoadSpec.durationRange)
            }
            let faultAt = workload["fault-at"].flatMap { double($0.value, "workload.fault-at", range: 0...3600) }
            let query = workload["query"].flatMap { string($0.value, "workload.query") }
            if let concurrency, let duration {
                load = LoadSpec(
                    concurrency: concurrency, duration: duration, faultAt: faultAt,
                    query: query ?? LoadSpec.defaultQuery)
            } else if workload["concurrency"] != nil || workload["duration"] != nil || faultAt != nil || query != nil {
                problem(w.value, "load mode needs both workload.concurrency and workload.duration")
            }
            if let p = workload["pattern"] {
                pattern = choice(p.value, "workload.pattern", WorkloadPattern.self) ?? pattern
            }
        }
        var driver: DriverChoice?
        if let d = top["driver"] {
            driver = self.driver(d.value)
            if let p = top["policy"] {
                problem(
                    p.key,
                    "'policy' configures repro's own pool, not the driver '\(driver?.name ?? "")': put the real pool's settings under driver.options"
                )
            }
        }
        var expectations = Expectations()
        if let e = top["expect"] { expectations = expect(e.value) ?? expectations }
        guard let name, let fault, let policy else { return nil }
        var scenario = Scenario(
            name: name, description: description, fault: fault, policy: policy, poolSize: size, operations: operations,
            expectations: expectations, driver: driver, pattern: pattern, idleSeconds: idle)
        scenario.source = "\(file):\(top["fault"]?.key.mark?.line ?? 1)"
        scenario.load = load
        let conflicts = fault.base.fileProblems(scenario)
        for (key, message) in conflicts { problem(top["fault"]?.value[key] ?? top["fault"]?.value, message) }
        if !conflicts.isEmpty { return nil }
        return scenario
    }

    /// `driver: NAME[@VERSION]` or `driver: {name, version, options: {key: value}, deadline, library}`
    /// (`node-path`: the older name of `library`).
    mutating func driver(_ node: Node) -> DriverChoice? {
        if node.scalar != nil {
            guard let text = string(node, "driver") else { return nil }
            do throws(RunError) {
                let parsed = try DriverChoice.parseName(text)
                var choice = DriverChoice(name: parsed.name)
                choice.version = parsed.version
                return choice
            } catch {
                problem(node, error.message)
                return nil
            }
        }
        guard
            let d = mapping(
                node, "driver", allowed: ["name", "options", "deadline", "library", "node-path", "version"])
        else {
            return nil
        }
        guard let n = d["name"] else {
            problem(node, "missing key 'driver.name': the adapter to run (repro drivers lists them)")
            return nil
        }
        guard let name = string(n.value, "driver.name") else { return nil }
        var choice = DriverChoice(name: name)
        if let o = d["options"] {
            guard case .mapping(let entries) = o.value else {
                problem(o.value, "driver.options must be a mapping of the pool's own settings, e.g. maxIdle: 3")
                return nil
            }
            for (key, value) in entries {
                guard let k = key.scalar?.string, let v = value.scalar?.string else {
                    problem(value, "driver.options values must be plain values (numbers, words, durations)")
                    continue
                }
                choice.options[k] = v
            }
        }
        if let t = d["deadline"] {
            choice.deadline = double(t.value, "driver.deadline", range: DriverChoice.deadlineRange) ?? choice.deadline
        }
        for key in ["library", "node-path"] {
            if let p = d[key], let text = string(p.value, "driver.\(key)") {
                choice.libraryPath = libraryPath(text, key: key, at: p.value)
            }
        }
        if let v = d["version"] { choice.version = string(v.value, "driver.version") }
        return choice
    }

    /// `driver.library`: paths (colon-separated), each relative to the scenario file's folder, that may start
    /// with `${NAME}` (an environment variable: `make test` sets `REPRO_NODE_VERSIONS` to the folder of staged
    /// mysql2 releases).
    mutating func libraryPath(_ text: String, key: String, at node: Node) -> String? {
        var parts: [String] = []
        for part in text.split(separator: ":") {
            guard let one = onePath(String(part), key: key, at: node) else { return nil }
            parts.append(one)
        }
        return parts.isEmpty ? nil : parts.joined(separator: ":")
    }

    mutating func onePath(_ text: String, key: String, at node: Node) -> String? {
        var path = text
        if path.hasPrefix("${"), let close = path.firstIndex(of: "}") {
            let name = String(path[path.index(path.startIndex, offsetBy: 2)..<close])
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                problem(
                    node,
                    "driver.\(key) uses ${\(name)}, which is not set: export \(name) to the folder it names (make test and make run set REPRO_NODE_VERSIONS to ../shared/node/versions)"
                )
                return nil
            }
            path = value + path[path.index(after: close)...]
        }
        if !path.hasPrefix("/") {
            path = ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent(path)
        }
        return (path as NSString).standardizingPath
    }

    /// `fault:` — the kind's own type reads its keys (`FaultKind.read`), with its limits and defaults.
    mutating func fault(_ node: Node, idle: inout Double?) -> Fault? {
        let kinds = Fault.kinds.map { $0.kind }
        var allowed = ["kind"]
        for type in Fault.kinds { for key in type.fileKeys where !allowed.contains(key) { allowed.append(key) } }
        guard let f = mapping(node, "fault", allowed: allowed) else { return nil }
        let list = kinds.joined(separator: ", ")
        guard let kindNode = f["kind"] else {
            problem(node, "missing key 'fault.kind': use \(list)")
            return nil
        }
        guard let kind = string(kindNode.value, "fault.kind") else { return nil }
        guard let type = Fault.kind(named: kind) else {
            problem(kindNode.value, "fault.kind '\(kind)' is unknown: use \(list)")
            return nil
        }
        let keys = ["kind"] + type.fileKeys
        for (key, entry) in f where !keys.contains(key) {
            problem(
                entry.key,
                "key '\(key)' does not apply to fault kind \(kind): allowed keys are \(keys.joined(separator: ", "))")
        }
        if let i = f["idle"] { idle = double(i.value, "fault.idle", range: Scenario.idleRange) }
        var fields = FileFaultFields(reader: self, mapping: f, node: node)
        let base = type.read(&fields)
        self = fields.reader
        return base.map { Fault($0) }
    }

    mutating func policy(_ node: Node, defaultReadTimeout: Int?) -> PoolPolicy? {
        if case .scalar(let s) = node {
            do {
                return try PolicyOverrides().apply(toPreset: s.string, defaultReadTimeout: defaultReadTimeout)
            } catch {
                problem(node, "policy: \(error.message)")
                return nil
            }
        }
        let allowed = [
            "preset", "validation", "retry", "max-idle", "max-lifetime", "keepalive", "invalidate-on-disconnect",
            "evict-on-socket-event", "connect-timeout", "read-timeout", "write-timeout",
        ]
        guard let p = mapping(node, "policy", allowed: allowed) else { return nil }
        var o = PolicyOverrides()
        let preset = p["preset"].flatMap { string($0.value, "policy.preset") } ?? "naive"
        if let v = p["preset"] {
            do { _ = try PolicyPreset.named(preset) } catch { problem(v.value, "policy.preset: \(error.message)") }
        }
        if let v = p["validation"], let text = string(v.value, "policy.validation") {
            do {
                o.validation = try PoolPolicy.Validation(parsing: text)
            } catch {
                problem(v.value, "policy.validation: \(error.message)")
            }
        }
        if let v = p["retry"], let text = string(v.value, "policy.retry") {
            do {
                o.retry = try PoolPolicy.Retry(parsing: text)
            } catch {
                problem(v.value, "policy.retry: \(error.message)")
            }
        }
        if let v = p["max-idle"] { o.maxIdleTime = double(v.value, "policy.max-idle", range: PoolPolicy.secondsRange) }
        if let v = p["max-lifetime"] {
            o.maxLifetime = double(v.value, "policy.max-lifetime", range: PoolPolicy.secondsRange)
        }
        if let v = p["keepalive"] {
            o.keepaliveInterval = double(v.value, "policy.keepalive", range: PoolPolicy.secondsRange)
        }
        if let v = p["evict-on-socket-event"] {
            o.evictOnSocketEvent = bool(v.value, "policy.evict-on-socket-event")
        }
        if let v = p["invalidate-on-disconnect"] {
            o.invalidateOnDisconnect = bool(v.value, "policy.invalidate-on-disconnect")
        }
        if let v = p["connect-timeout"] {
            o.connectTimeout = int(v.value, "policy.connect-timeout", range: PoolPolicy.timeoutRange)
        }
        if let v = p["read-timeout"] {
            o.readTimeout = int(v.value, "policy.read-timeout", range: PoolPolicy.timeoutRange)
        }
        if let v = p["write-timeout"] {
            o.writeTimeout = int(v.value, "policy.write-timeout", range: PoolPolicy.timeoutRange)
        }
        guard problems.isEmpty else { return nil }
        do {
            return try o.apply(toPreset: preset, defaultReadTimeout: defaultReadTimeout)
        } catch {
            problem(node, "policy: \(error.message)")
            return nil
        }
    }

    mutating func expect(_ node: Node) -> Expectations? {
        guard
            let e = mapping(
                node, "expect", allowed: ["firstError", "kind", "message", "messages", "phase", "recovered"])
        else {
            return nil
        }
        var out = Expectations()
        if let f = e["firstError"] {
            var items: [Node] = []
            switch f.value {
            case .sequence(let seq): items = Array(seq)
            default: items = [f.value]
            }
            var codes: [DatabaseError.Code] = []
            for item in items {
                guard let text = item.scalar?.string, let code = DatabaseError.Code(parsing: text) else {
                    problem(
                        item,
                        "expect.firstError '\(item.scalar?.string ?? kind(item))' is not an error code: use numbers like 2013 or names like CR_SERVER_LOST"
                    )
                    continue
                }
                codes.append(code)
            }
            if items.isEmpty { problem(f.value, "expect.firstError is empty: list one or more codes") }
            out.firstError = codes
        }
        if let k = e["kind"] {
            let items: [Node] =
                switch k.value {
                case .sequence(let seq): Array(seq)
                default: [k.value]
                }
            out.kind = items.compactMap { choice($0, "expect.kind", ErrorKind.self) }
            if items.isEmpty { problem(k.value, "expect.kind is empty: list one or more kinds") }
        }
        if let m = e["message"] { out.message = string(m.value, "expect.message") }
        if let m = e["messages"] {
            switch m.value {
            case .sequence(let seq) where !seq.isEmpty:
                out.messages = seq.compactMap { string($0, "expect.messages") }
            case .sequence:
                problem(m.value, "expect.messages is empty: list the messages, in the order the application saw them")
            default:
                problem(
                    m.value, "expect.messages must be a list of message texts, in the order the application saw them")
            }
        }
        if let p = e["phase"] { out.phase = choice(p.value, "expect.phase", ErrorPhase.self) }
        if let r = e["recovered"] { out.recovered = bool(r.value, "expect.recovered") }
        return out
    }

    /// A known key one edit or transposition away, for "did you mean".
    func closest(_ word: String, in candidates: [String]) -> String? {
        candidates.first { distance($0.lowercased(), word.lowercased()) <= 2 }
    }

    func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(1, b.count) where !b.isEmpty {
                let old = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = old
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}

extension String {
    /// At most 60 characters of user input in an error message, so a message never echoes a whole file.
    var truncatedForMessage: String { count <= 60 ? self : String(prefix(57)) + "..." }
}
