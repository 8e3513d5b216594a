/// Knobs set on top of a preset (CLI options, scenario files); nil leaves the preset's value.
public struct PolicyOverrides: Sendable, Equatable {
    public var validation: PoolPolicy.Validation?
    public var retry: PoolPolicy.Retry?
    public var maxIdleTime: Double?
    public var maxLifetime: Double?
    public var keepaliveInterval: Double?
    public var invalidateOnDisconnect: Bool?
    public var evictOnSocketEvent: Bool?
    public var connectTimeout: Int?
    public var readTimeout: Int?
    public var writeTimeout: Int?

    public init(
        validation: PoolPolicy.Validation? = nil, retry: PoolPolicy.Retry? = nil, maxIdleTime: Double? = nil,
        maxLifetime: Double? = nil,
        keepaliveInterval: Double? = nil, invalidateOnDisconnect: Bool? = nil, evictOnSocketEvent: Bool? = nil,
        connectTimeout: Int? = nil,
        readTimeout: Int? = nil,
        writeTimeout: Int? = nil
    ) {
        self.validation = validation
        self.retry = retry
        self.maxIdleTime = maxIdleTime
        self.maxLifetime = maxLifetime
        self.keepaliveInterval = keepaliveInterval
        self.invalidateOnDisconnect = invalidateOnDisconnect
        self.evictOnSocketEvent = evictOnSocketEvent
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.writeTimeout = writeTimeout
    }

    public var isEmpty: Bool { self == PolicyOverrides() }

    /// The preset named `preset` with these overrides applied and checked; a changed preset is named `<preset>+custom`.
    /// `defaultReadTimeout` is a scenario's own default, used when no read timeout is given.
    public func apply(toPreset preset: String, defaultReadTimeout: Int? = nil) throws(PolicyError) -> PoolPolicy {
        try apply(to: PolicyPreset.named(preset), defaultReadTimeout: defaultReadTimeout)
    }

    /// `preset` with these overrides applied and checked (see `apply(toPreset:defaultReadTimeout:)`).
    public func apply(to preset: PolicyPreset, defaultReadTimeout: Int? = nil) throws(PolicyError) -> PoolPolicy {
        var p = preset.policy
        if let validation { p.validation = validation }
        if let retry { p.retry = retry }
        if let maxIdleTime { p.maxIdleTime = maxIdleTime }
        if let maxLifetime { p.maxLifetime = maxLifetime }
        if let keepaliveInterval { p.keepaliveInterval = keepaliveInterval }
        if let invalidateOnDisconnect { p.invalidateOnDisconnect = invalidateOnDisconnect }
        if let evictOnSocketEvent { p.evictOnSocketEvent = evictOnSocketEvent }
        if let connectTimeout { p.connectTimeout = connectTimeout }
        if let writeTimeout { p.writeTimeout = writeTimeout }
        if let readTimeout {
            p.readTimeout = readTimeout
        } else if let defaultReadTimeout {
            p.readTimeout = defaultReadTimeout
        }
        if !isEmpty { p.name += "+custom" }
        try p.validate()
        return p
    }
}
