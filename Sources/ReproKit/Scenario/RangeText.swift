import Foundation

// How a limit is written in a usage message ("use seconds from 0.5 to 600"), from the range itself, so a
// message never disagrees with the check.

extension ClosedRange where Bound == Int {
    /// "1 to 86400".
    public var text: String { "\(lowerBound) to \(upperBound)" }
}

extension ClosedRange where Bound == Double {
    /// "0.001 to 86400": no trailing ".0".
    public var text: String { "\(Self.format(lowerBound)) to \(Self.format(upperBound))" }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
    }
}
