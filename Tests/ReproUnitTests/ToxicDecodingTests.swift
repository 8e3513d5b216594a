import Foundation
import Testing

@testable import ReproKit

@Suite("Toxics as the API decodes them")
struct ToxicDecodingTests {
    private func json(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    @Test("defaults are Toxiproxy's: downstream, toxicity 1, name type_stream, missing attributes 0")
    func defaults() throws {
        let toxic = try Toxic.decode(try json(#"{"type": "latency", "attributes": {"latency": 250}}"#))
        #expect(toxic == Toxic(name: "latency_downstream", kind: .latency(milliseconds: 250, jitter: 0)))
        #expect(
            toxic.json
                == (try json(
                    #"{"attributes":{"latency":250,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#
                )))
        let cut = try Toxic.decode(
            try json(#"{"type": "idle_cut", "stream": "upstream", "attributes": {"idle": 5000}}"#))
        #expect(cut.kind == .idleCut(milliseconds: 5000, mode: .halfOpen) && cut.name == "idle_cut_upstream")
    }

    @Test("an update keeps what it does not name")
    func updateKeepsTheRest() throws {
        let toxic = Toxic(name: "l", kind: .latency(milliseconds: 100, jitter: 10), toxicity: 0.5)
        let updated = try toxic.updated(with: try json(#"{"attributes": {"jitter": 30}}"#))
        #expect(updated.kind == .latency(milliseconds: 100, jitter: 30) && updated.toxicity == 0.5)
    }

    @Test("bad toxics are refused with Toxiproxy's status and a message naming the fix")
    func refusals() throws {
        func refusal(_ text: String) throws -> ToxiproxyError? {
            let body = try json(text)
            do throws(ToxiproxyError) {
                _ = try Toxic.decode(body)
                return nil
            } catch {
                return error
            }
        }
        #expect(try refusal(#"{"type": "latency", "stream": "sideways"}"#) == .invalidStream)
        #expect(try refusal(#"{"type": "jitterbug"}"#)?.message.hasPrefix("invalid toxic type: use one of") == true)
        #expect(try refusal(#"{"type": "bandwidth"}"#)?.message.contains("does not implement") == true)
        #expect(try refusal(#"{"type": "latency", "attributes": {"latency": -1}}"#)?.status == 400)
        #expect(try refusal(#"{"type": "latency", "attributes": {"latency": "fast"}}"#)?.status == 400)
        #expect(try refusal(#"{"type": "timeout", "toxicity": 2}"#)?.status == 400)
        #expect(try refusal(#"{"type": "idle_cut"}"#)?.message.contains("attributes.idle is required") == true)
        #expect(try refusal(#"{"type": "idle_cut", "attributes": {"idle": 10, "mode": "explode"}}"#)?.status == 400)
    }
}

@Suite("The Toxiproxy-compatible API's refusals, without sockets")
struct ToxiproxyAPIRefusalTests {
    private func request(_ api: ToxiproxyAPI, _ method: String, _ target: String, _ body: String = "")
        -> APIResponse
    {
        api.handle(APIRequest(method: method, target: target, body: Array(body.utf8)))
    }

    @Test("what Toxiproxy refuses is refused the same way")
    func refusals() {
        let api = ToxiproxyAPI()
        #expect(
            api.handle(APIRequest(method: "GET", target: "/proxies", userAgent: "Mozilla/5.0")).status == 403)
        #expect(request(api, "GET", "/nowhere").status == 404)
        #expect(request(api, "PUT", "/proxies").status == 405)
        #expect(
            request(api, "POST", "/proxies", "{not json").json?["error"]?.string?.hasPrefix("bad request body") == true)
        #expect(request(api, "POST", "/proxies/none/toxics", #"{"type": "latency"}"#).status == 404)
        #expect(request(api, "POST", "/proxies", #"{"name": "x", "upstream": "nohost"}"#).status == 400)
        #expect(request(api, "GET", "/version").json?["version"]?.string?.hasPrefix("repro ") == true)
    }
}
