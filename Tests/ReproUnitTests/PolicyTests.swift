import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("Policies, presets and overrides")
struct PolicyTests {
    @Test("every preset resolves to the documented knobs")
    func presets() throws {
        #expect(PolicyPreset.naive.policy.validation == .none)
        #expect(PolicyPreset.naive.policy.retry == .none)
        #expect(PolicyPreset.seedFix.policy.retry == .acquire(1))
        #expect(PolicyPreset.seedFix.policy.validation == .none)
        #expect(PolicyPreset.pingOnBorrow.policy.validation == .ping)
        #expect(PolicyPreset.livenessCheck.policy.validation == .liveness)
        #expect(PolicyPreset.pingIfIdle.policy.validation == .pingIfIdle(milliseconds: 500))
        #expect(PolicyPreset.lifetime.policy.maxLifetime == 0.5)
        #expect(PolicyPreset.keepalive.policy.keepaliveInterval == 0.5)
        #expect(PolicyPreset.goSQL.policy.validation == .liveness)
        #expect(PolicyPreset.goSQL.policy.retry == .unsent(2, fresh: true))
        #expect(PolicyPreset.evictOnEvent.policy.evictOnSocketEvent)
        #expect(PolicyPreset.evictOnEvent.policy.validation == .none)
        #expect(PolicyPreset.evictOnEvent.policy.retry == .none)
        #expect(PolicyPreset.allCases.last == .evictOnEvent)
        #expect(PolicyPreset.allCases.filter { $0.policy.evictOnSocketEvent } == [.evictOnEvent])
        for preset in PolicyPreset.allCases {
            #expect(preset.policy.name == preset.rawValue)
            try preset.policy.validate()
        }
    }

    @Test(
        "validation and retry parse and print the same text",
        arguments: [
            "none", "ping", "liveness", "ping-if-idle:250",
        ])
    func validationRoundTrip(text: String) throws {
        #expect(try PoolPolicy.Validation(parsing: text).description == text)
    }

    @Test("retry rules parse", arguments: ["none", "acquire:1", "query:3", "query:2+fresh"])
    func retryRoundTrip(text: String) throws {
        #expect(try PoolPolicy.Retry(parsing: text).description == text)
    }

    @Test(
        "bad values are rejected with a message naming the value",
        arguments: [
            "acquire:0", "acquire:2+fresh", "query:x", "query:11", "retry", "sometimes",
        ])
    func badRetry(text: String) {
        #expect(throws: PolicyError.self) { try PoolPolicy.Retry(parsing: text) }
        do {
            _ = try PoolPolicy.Retry(parsing: text)
        } catch {
            #expect(error.message.contains("'\(text)'"))
        }
    }

    @Test("unknown preset lists the allowed names")
    func unknownPreset() {
        do {
            _ = try PolicyPreset.named("yolo")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("'yolo'"))
            #expect(error.message.contains("ping-on-borrow"))
        }
    }

    @Test("overrides change only the knobs given and rename the policy")
    func overrides() throws {
        let p = try PolicyOverrides(retry: .query(1, fresh: false), readTimeout: 3).apply(toPreset: "ping-on-borrow")
        #expect(p.validation == .ping)
        #expect(p.retry == .query(1, fresh: false))
        #expect(p.readTimeout == 3)
        #expect(p.name == "ping-on-borrow+custom")
        let plain = try PolicyOverrides().apply(toPreset: "naive", defaultReadTimeout: 5)
        #expect(plain.name == "naive")
        #expect(plain.readTimeout == 5)
    }

    @Test(
        "out-of-range knobs are rejected",
        arguments: [
            PolicyOverrides(maxIdleTime: 0), PolicyOverrides(maxLifetime: -1), PolicyOverrides(keepaliveInterval: 0),
            PolicyOverrides(connectTimeout: 0), PolicyOverrides(readTimeout: 99999),
        ])
    func outOfRange(overrides: PolicyOverrides) {
        #expect(throws: PolicyError.self) { try overrides.apply(toPreset: "naive") }
    }

    @Test("a policy encodes every knob, null when unset")
    func policyJSON() throws {
        let data = try JSONEncoderForTests.encode(PolicyPreset.naive.policy)
        let object = try #require(try JSONSerializationForTests.object(data))
        for key in [
            "name", "validation", "maxIdleTime", "maxLifetime", "keepaliveInterval", "retry", "evictOnSocketEvent",
            "connectTimeout", "readTimeout", "writeTimeout",
        ] {
            #expect(object.keys.contains(key), "missing \(key)")
        }
        #expect(object["evictOnSocketEvent"] as? Bool == false)
    }

    @Test("evict-on-socket-event: encoded, shown in the summary, overridable, and absent in old reports reads as false")
    func evictOnSocketEventKnob() throws {
        let on = PolicyPreset.evictOnEvent.policy
        let decoded = try JSONDecoder().decode(PoolPolicy.self, from: try JSONEncoderForTests.encode(on))
        #expect(decoded == on)
        #expect(on.summary.contains("evict-on-socket-event"))
        #expect(!PolicyPreset.naive.policy.summary.contains("evict-on-socket-event"))
        let old = """
            {"name": "naive", "validation": "none", "maxIdleTime": null, "maxLifetime": null,
             "keepaliveInterval": null, "retry": "none", "connectTimeout": 5, "readTimeout": 10, "writeTimeout": 10}
            """
        let legacy = try JSONDecoder().decode(PoolPolicy.self, from: Data(old.utf8))
        #expect(legacy == PolicyPreset.naive.policy)
        let custom = try PolicyOverrides(evictOnSocketEvent: true).apply(toPreset: "ping-on-borrow")
        #expect(custom.evictOnSocketEvent && custom.validation == .ping)
        #expect(custom.name == "ping-on-borrow+custom")
        let off = try PolicyOverrides(evictOnSocketEvent: false).apply(toPreset: "evict-on-event")
        #expect(!off.evictOnSocketEvent)
    }
}
