// CLIOutput: what one line of the CLI's stdout (and its stderr at the end) becomes, as the reference's
// `CLISession._handle_line_gen`, `_extract_session_id` and the tail of `start_task` define it.
// Pure: no I/O.

import JSON
import Text

/// Turns the CLI's output into the event stream the bot consumes. One value per task.
public struct CLIOutputDecoder {
    /// Set by the first line that carries a session id; later ids are passed through unnoticed,
    /// as in the reference (its `session_id_extracted` flag).
    public private(set) var sessionID: String?

    public init() {}

    /// Events for one raw stdout line (without its newline). Blank lines give none.
    public mutating func events(forLine bytes: [UInt8]) -> [JSONValue] {
        let text = String(decoding: bytes, as: UTF8.self).pythonStripped()
        if text.isEmpty { return [] }
        guard let event = try? JSONValue.parse(text) else {
            return [.object(JSONObject([("type", "raw"), ("content", .string(text))]))]
        }
        var out: [JSONValue] = []
        if sessionID == nil, let id = Self.extractSessionID(event) {
            sessionID = id
            out.append(.object(JSONObject([("type", "session_info"), ("session_id", .string(id))])))
        }
        out.append(event)
        return out
    }

    /// The session id an event carries, looked up where the reference looks: `session_id`, then
    /// `sessionId`, then either of them inside `init`, `system`, `result` or `metadata` objects, then
    /// `conversation.id`. The first key present decides, even when its value is unusable (null).
    ///
    /// Only a non-empty string counts as an id; the reference accepts any truthy value (a number, an
    /// object), which then becomes a dictionary key for the session manager.
    public static func extractSessionID(_ event: JSONValue) -> String? {
        guard case .object(let object) = event else { return nil }
        func usable(_ value: JSONValue) -> String? {
            if case .string(let s) = value, !s.isEmpty { return s }
            return nil
        }
        if let value = object["session_id"] { return usable(value) }
        if let value = object["sessionId"] { return usable(value) }
        for key in ["init", "system", "result", "metadata"] {
            guard case .object(let nested)? = object[key] else { continue }
            if let value = nested["session_id"] { return usable(value) }
            if let value = nested["sessionId"] { return usable(value) }
        }
        if case .object(let conversation)? = object["conversation"], let value = conversation["id"] {
            return usable(value)
        }
        return nil
    }

    /// The events that close a task: an `error` event when the CLI wrote anything but whitespace to
    /// stderr, then `exit` with the code and the stripped stderr (null when stderr was empty, "" when it
    /// held only whitespace: the reference's `None` vs `""`).
    public static func closingEvents(stderr: [UInt8], exitCode: Int) -> [JSONValue] {
        var events: [JSONValue] = []
        var stderrValue: JSONValue = .null
        if !stderr.isEmpty {
            let text = String(decoding: stderr, as: UTF8.self).pythonStripped()
            stderrValue = .string(text)
            if !text.isEmpty {
                events.append(errorEvent(message: text))
            }
        }
        events.append(.object(JSONObject([("type", "exit"), ("code", .int(exitCode)), ("stderr", stderrValue)])))
        return events
    }

    /// `{"type": "error", "error": {"message": ...}}`, the shape the bot's event parser reads.
    public static func errorEvent(message: String) -> JSONValue {
        .object(JSONObject([("type", "error"), ("error", .object(JSONObject([("message", .string(message))])))]))
    }
}

/// Python string and path helpers the reference's behaviour depends on.
public enum CLIText {
    /// POSIX `os.path.normpath`: collapses `.`, `..` and repeated separators lexically. An empty
    /// path is ".", a path starting with exactly two slashes keeps them (POSIX leaves `//` to the
    /// implementation), `..` above the root is dropped and leading `..` of a relative path is kept.
    public static func normalizePath(_ path: String) -> String {
        if path.isEmpty { return "." }
        var leadingSlashes = 0
        if path.hasPrefix("/") {
            leadingSlashes = (path.hasPrefix("//") && !path.hasPrefix("///")) ? 2 : 1
        }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if leadingSlashes == 0 {
                    parts.append(part)
                }
                continue
            }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        let result = String(repeating: "/", count: leadingSlashes) + joined
        return result.isEmpty ? "." : result
    }

    /// `os.path.normpath(os.path.abspath(path))` given the current directory.
    public static func absolutePath(_ path: String, currentDirectory: String) -> String {
        if path.hasPrefix("/") { return normalizePath(path) }
        // posixpath.join: no separator added after one that is already there.
        let separator = currentDirectory.hasSuffix("/") ? "" : "/"
        return normalizePath(currentDirectory + separator + path)
    }
}
