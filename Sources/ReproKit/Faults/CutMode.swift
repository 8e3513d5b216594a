/// How a network cut treats the flows it hits.
public enum CutMode: String, Sendable, Codable, CaseIterable {
    case reset, close, blackhole
    case halfOpen = "half-open"
}
