// Arguments: a JSON request body read as the keyword arguments of the reference's method.

import AnthropicAPI
import CLIProcess
import JSON
import SessionStore

struct Arguments {
    let method: String
    let object: JSONObject

    /// An empty body is a call without arguments; anything but an object is refused.
    init(method: String, body: [UInt8]) throws(APIError) {
        self.method = method
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            object = JSONObject()
            return
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            throw APIError.invalidRequest("\(method): request body is not valid JSON: \(error)")
        }
        guard case .object(let object) = value else {
            throw APIError.invalidRequest("\(method): request body must be a JSON object of arguments, got \(value.typeName)")
        }
        self.object = object
    }

    func missing(_ name: String) -> APIError {
        .invalidRequest("\(method)() missing required argument: '\(name)'")
    }

    func wrongType(_ name: String, _ expected: String, _ value: JSONValue) -> APIError {
        .invalidRequest("\(method)(): argument '\(name)' must be \(expected), got \(value.typeName)")
    }

    /// A required text argument, stringified the way the reference's `str(x)` does (the bot passes
    /// Telegram ids as numbers or strings).
    func text(_ name: String) throws(APIError) -> String {
        guard let value = object[name], !value.isNull else { throw missing(name) }
        switch value {
        case .array, .object: throw wrongType(name, "a string or a number", value)
        default: return value.pythonStr
        }
    }

    /// Text or null, but present: a required parameter the reference accepts as None.
    func nullableText(_ name: String) throws(APIError) -> String? {
        guard let value = object[name] else { throw missing(name) }
        if value.isNull { return nil }
        return try text(name)
    }

    /// A string, strictly (session ids).
    func string(_ name: String) throws(APIError) -> String {
        guard let value = object[name], !value.isNull else { throw missing(name) }
        guard case .string(let s) = value else { throw wrongType(name, "a string", value) }
        return s
    }

    /// A session id, which may reach the CLI's command line: one that could read as an option or
    /// holds control characters is refused.
    func sessionID(_ name: String) throws(APIError) -> String {
        try checkedString(name, CLIArgumentCheck.problem(sessionID:))
    }

    func optionalSessionID(_ name: String) throws(APIError) -> String? {
        guard let value = object[name], !value.isNull else { return nil }
        return try sessionID(name)
    }

    /// Text passed to the CLI as one argument.
    func argument(_ name: String) throws(APIError) -> String {
        try checkedString(name, CLIArgumentCheck.problem(argument:))
    }

    private func checkedString(_ name: String, _ problem: (String) -> String?) throws(APIError) -> String {
        let text = try string(name)
        if let problem = problem(text) {
            throw APIError.invalidRequest("\(method)(): argument '\(name)' \(problem)")
        }
        return text
    }

    func optionalString(_ name: String) throws(APIError) -> String? {
        guard let value = object[name], !value.isNull else { return nil }
        return try string(name)
    }

    func jsonObject(_ name: String) throws(APIError) -> JSONObject {
        guard let value = object[name], !value.isNull else { throw missing(name) }
        guard case .object(let o) = value else { throw wrongType(name, "an object", value) }
        return o
    }

    func int(_ name: String, default defaultValue: Int) throws(APIError) -> Int {
        guard let value = object[name], !value.isNull else { return defaultValue }
        switch value {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 1e15: return Int(d)
        default: throw wrongType(name, "an integer", value)
        }
    }

    /// Python truthiness, as `bool(x)` (the bot passes `bool(parent_session_id)`).
    func flag(_ name: String) -> Bool {
        guard let value = object[name] else { return false }
        return value.isPythonTruthy
    }

    func stringList(_ name: String) throws(APIError) -> [String] {
        guard let value = object[name], !value.isNull else { return [] }
        guard case .array(let items) = value else { throw wrongType(name, "a list of strings", value) }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else { throw wrongType(name, "a list of strings", item) }
            out.append(s)
        }
        return out
    }
}
