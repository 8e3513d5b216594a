import Foundation

/// Renders a report as JUnit XML: one testsuite, one testcase per scenario.
public enum JUnitRenderer {
    public static func render(_ report: Report) -> String {
        let failures = report.scenarios.filter { !$0.passed }.count
        let total = report.scenarios.reduce(0) { $0 + $1.durationMs } / 1000
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites tests=\"\(report.scenarios.count)\" failures=\"\(failures)\" time=\"\(seconds(total))\">\n"
        out +=
            "  <testsuite name=\"repro\" tests=\"\(report.scenarios.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"0\" time=\"\(seconds(total))\" timestamp=\"\(escape(report.generatedAt))\">\n"
        out += "    <properties>\n"
        out += property("server.version", report.server.version, indent: 6)
        out += property("server.managed", "\(report.server.managed)", indent: 6)
        // The clients that ran: repro's own, or each real stack's library, pool and runtime.
        let clients = report.scenarios.isEmpty ? report.client.map { [$0] } ?? [] : report.scenarios.map(\.client)
        var named: Set<String> = []
        for client in clients where named.insert(client.summary).inserted {
            out += property("client.library", client.library, indent: 6)
            out += property("client.version", client.version, indent: 6)
            if let pool = client.pool { out += property("client.pool", pool, indent: 6) }
            if let runtime = client.runtime {
                out += property("client.runtime", runtime + (client.runtimeVersion.map { " " + $0 } ?? ""), indent: 6)
            }
        }
        out += "    </properties>\n"
        for s in report.scenarios {
            out +=
                "    <testcase classname=\"\(escape(s.kind))\" name=\"\(escape(s.name))\" time=\"\(seconds(s.durationMs / 1000))\">\n"
            out += "      <properties>\n"
            out += property("fault.kind", s.kind, indent: 8)
            for (k, v) in s.parameters.sorted(by: { $0.key < $1.key }) {
                out += property("fault.\(k)", v, indent: 8)
            }
            if let signal = s.tcpSignal { out += property("tcp.close", signal, indent: 8) }
            for (name, value) in s.fault?.base.junitProperties ?? [] { out += property(name, value, indent: 8) }
            if let adapter = s.client.adapter {
                out += property("driver", adapter, indent: 8)
                out += property("client", s.client.summary, indent: 8)
            } else {
                out += property("policy", s.policy.name, indent: 8)
            }
            out += property("recovered", "\(s.recovered)", indent: 8)
            if s.expectations.isEmpty {
                // Green because nothing was asked, not because the pool recovered: say so where CI shows it.
                out += property(
                    "expectations",
                    "none: this case passes whatever happened (recovered=\(s.recovered)); add expect: to the scenario file or --expect-recovered",
                    indent: 8)
            }
            if let f = s.firstError {
                out += property("firstError", f.label, indent: 8)
                out += property("firstError.phase", f.phase.rawValue, indent: 8)
            }
            out += "      </properties>\n"
            if !s.passed {
                let unmet = s.expectations.filter { !$0.passed }
                let summary = unmet.map { "\($0.name): expected \($0.expected), observed \($0.actual)" }.joined(
                    separator: "; ")
                let first =
                    s.firstError.map {
                        "first error \($0.label) at \($0.phase.rawValue): \($0.message)"
                    } ?? "no error observed"
                out +=
                    "      <failure message=\"\(escape(summary))\" type=\"ExpectationFailed\">\(escape(summary + "\n" + first))</failure>\n"
            }
            let timeline = s.timeline.map { e in
                String(
                    format: "%9.1f ms  %-16@ conn=%@ thread=%@ %@", e.atMs, e.event.rawValue as NSString,
                    (e.connection.map(String.init) ?? "-") as NSString,
                    (e.threadID.map(String.init) ?? "-") as NSString,
                    (e.detail ?? "") as NSString)
            }.joined(separator: "\n")
            out += "      <system-out>\(escape(timeline))</system-out>\n"
            out += "    </testcase>\n"
        }
        out += "  </testsuite>\n</testsuites>\n"
        return out
    }

    static func property(_ name: String, _ value: String, indent: Int) -> String {
        String(repeating: " ", count: indent) + "<property name=\"\(escape(name))\" value=\"\(escape(value))\"/>\n"
    }

    static func seconds(_ s: Double) -> String { String(format: "%.3f", s) }

    /// XML-escapes text and drops characters XML 1.0 cannot carry.
    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value >= 0x20 && scalar.value != 0xFFFE && scalar.value != 0xFFFF {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
