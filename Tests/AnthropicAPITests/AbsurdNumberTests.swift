import JSON
import Testing

@testable import AnthropicAPI

/// Numbers a client may write in a request body, from the raw text on: each one either decodes
/// to the value written or is refused with a 400's message, and none traps.
@Suite struct AbsurdNumberTests {
    /// The request with `"<key>": <literal>` added, decoded from its text.
    private func decode(_ key: String, _ literal: String) throws -> Result<MessagesRequest, RequestValidationError> {
        let text = #"{"model":"m","messages":[{"role":"user","content":"x"}],"# + #""\#(key)":\#(literal)}"#
        let json = try JSONValue.parse(Array(text.utf8))
        do throws(RequestValidationError) {
            return .success(try MessagesRequest.decode(json, routing: ModelRouting(default: "nim")))
        } catch {
            return .failure(error)
        }
    }

    @Test(arguments: [
        ("9223372036854775807", Int.max), ("-9223372036854775808", Int.min), ("-5", -5), ("0", 0),
        ("1e18", 1_000_000_000_000_000_000), ("-0.0", 0), ("4096.0", 4096),
    ])
    func integersThatFitAreKept(literal: String, expected: Int) throws {
        for key in ["max_tokens", "top_k"] {
            let request = try decode(key, literal).get()
            #expect((key == "max_tokens" ? request.maxTokens : request.topK) == expected, "\(key): \(literal)")
        }
        let thinking = try decode("thinking", #"{"type":"enabled","budget_tokens":\#(literal)}"#).get()
        #expect(thinking.thinking?.budgetTokens == expected)
    }

    @Test(arguments: [
        ("9223372036854775808", "Input should be a valid integer that fits in 64 bits"),
        ("-9223372036854775809", "Input should be a valid integer that fits in 64 bits"),
        ("\(String(repeating: "9", count: 5000))", "Input should be a valid integer that fits in 64 bits"),
        ("1e300", "Input should be a valid integer"), ("-1e300", "Input should be a valid integer"),
        ("9.3e18", "Input should be a valid integer"), ("1e999", "Input should be a valid integer"),
        ("-1e999", "Input should be a valid integer"),
        ("1.5", "Input should be a valid integer, got a number with a fractional part"),
        ("1e-300", "Input should be a valid integer, got a number with a fractional part"),
    ])
    func integersThatDoNotFitAreRefused(literal: String, reason: String) throws {
        for key in ["max_tokens", "top_k"] {
            guard case .failure(let e) = try decode(key, literal) else {
                Issue.record("\(key): \(literal) was accepted")
                continue
            }
            #expect(e.message == "\(key): \(reason)")
        }
        guard case .failure(let e) = try decode("thinking", #"{"budget_tokens":\#(literal)}"#) else {
            Issue.record("budget_tokens: \(literal) was accepted")
            return
        }
        #expect(e.message == "thinking.budget_tokens: \(reason)")
    }

    @Test(arguments: ["1e300", "-1e300", "1e-320", "123456789012345678901234567890", "0"])
    func finiteNumbersAreKept(literal: String) throws {
        let request = try decode("temperature", literal).get()
        #expect(request.temperature == Double(literal))
    }

    /// `1e999` parses to infinity, which no JSON body can carry on to the upstream.
    @Test(arguments: ["1e999", "-1e999", "\(String(repeating: "9", count: 400)).0"])
    func infinitiesAreRefused(literal: String) throws {
        for key in ["temperature", "top_p"] {
            guard case .failure(let e) = try decode(key, literal) else {
                Issue.record("\(key): \(literal) was accepted")
                continue
            }
            #expect(e.message == "\(key): Input should be a finite number")
        }
    }
}
