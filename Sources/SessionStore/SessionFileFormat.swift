import JSON

/// Why a sessions file could not be taken as it is.
public enum SessionFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not JSON at all (also: empty or truncated files, invalid UTF-8).
    case invalidJSON(String)
    /// JSON, but not the shape the store writes: loading it would mean dropping
    /// parts of it, and the next save would make that loss permanent.
    case unexpectedStructure(String)

    public var description: String {
        switch self {
        case .invalidJSON(let detail): return "not valid JSON: \(detail)"
        case .unexpectedStructure(let detail): return "unexpected structure: \(detail)"
        }
    }
}

extension SessionStoreState {
    /// Reads a sessions file as the reference's `_load` does, including the
    /// legacy rules: a missing `platform` becomes `"telegram"`, integer ids
    /// become strings, missing sections are empty, and the `message_log` is
    /// cleaned (entries that are not objects or lack a `message_id` are dropped,
    /// repeated ids keep their first entry, fields become strings, a missing or
    /// falsy field becomes `""`).
    ///
    /// Where the reference would stop part-way through (a session record with
    /// missing or unknown fields, a section of the wrong type) and keep only what
    /// it read so far, this throws instead, so the caller can set the whole file
    /// aside rather than overwrite it with a fragment.
    public init(loading bytes: [UInt8], messageLogCap: Int? = nil) throws(SessionFileError) {
        self.init(messageLogCap: messageLogCap)
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw .invalidJSON(error.description)
        }
        guard case .object(let root) = document else {
            throw .unexpectedStructure("top level is \(document.typeName), expected object")
        }

        if let sessions = root["sessions"] {
            guard case .object(let records) = sessions else {
                throw .unexpectedStructure("\"sessions\" is \(sessions.typeName), expected object")
            }
            for entry in records {
                insertLoadedSession(key: entry.key, try Self.sessionRecord(entry.value, key: entry.key))
            }
        }

        var trees = OrderedMap<JSONObject>()
        if let value = root["trees"] {
            guard case .object(let object) = value else {
                throw .unexpectedStructure("\"trees\" is \(value.typeName), expected object")
            }
            for entry in object {
                guard case .object(let tree) = entry.value else {
                    throw .unexpectedStructure("tree \(entry.key) is \(entry.value.typeName), expected object")
                }
                trees[entry.key] = tree
            }
        }
        var mapping = OrderedMap<String>()
        if let value = root["node_to_tree"] {
            guard case .object(let object) = value else {
                throw .unexpectedStructure("\"node_to_tree\" is \(value.typeName), expected object")
            }
            for entry in object {
                guard case .string(let rootID) = entry.value else {
                    throw .unexpectedStructure("node \(entry.key) maps to \(entry.value.typeName), expected string")
                }
                mapping[entry.key] = rootID
            }
        }
        setLoadedTrees(trees, nodeToTree: mapping)

        // The reference treats the log as optional and forgiving: anything but an
        // object (after `or {}`) is ignored, and so is a chat whose value is not a list.
        if case .object(let log)? = root["message_log"] {
            for entry in log {
                guard case .array(let items) = entry.value else { continue }
                var cleaned: [MessageLogEntry] = []
                var seen: Set<String> = []
                for item in items {
                    guard case .object(let fields) = item, let rawID = fields["message_id"], !rawID.isNull else {
                        continue
                    }
                    let messageID = rawID.pythonStr
                    guard seen.insert(messageID).inserted else { continue }
                    cleaned.append(MessageLogEntry(
                        messageID: messageID, ts: Self.stringOrEmpty(fields["ts"]),
                        direction: Self.stringOrEmpty(fields["direction"]), kind: Self.stringOrEmpty(fields["kind"])))
                }
                setLoadedMessageLog(chatKey: entry.key, cleaned)
            }
        }
    }

    /// `str(x or "")`.
    private static func stringOrEmpty(_ value: JSONValue?) -> String {
        guard let value, value.isPythonTruthy else { return "" }
        return value.pythonStr
    }

    private static let recordFields = [
        "session_id", "chat_id", "initial_msg_id", "last_msg_id", "platform", "created_at", "updated_at",
    ]

    private static func sessionRecord(_ value: JSONValue, key: String) throws(SessionFileError) -> SessionRecord {
        guard case .object(var fields) = value else {
            throw .unexpectedStructure("session \(key) is \(value.typeName), expected object")
        }
        if fields["platform"] == nil { fields["platform"] = "telegram" }
        for field in fields.keys where !recordFields.contains(field) {
            throw .unexpectedStructure("session \(key) has unknown field \(field)")
        }
        var strings: [String] = []
        for field in recordFields {
            guard let raw = fields[field] else {
                throw .unexpectedStructure("session \(key) lacks \(field)")
            }
            // Legacy files hold integer ids; the reference turns them into strings.
            // Other scalars get the same `str()`; null and containers have no
            // sensible string form for an id or a timestamp.
            switch raw {
            case .null, .array, .object:
                throw .unexpectedStructure("session \(key): \(field) is \(raw.typeName)")
            default:
                strings.append(raw.pythonStr)
            }
        }
        return SessionRecord(sessionID: strings[0], chatID: strings[1], initialMessageID: strings[2],
                             lastMessageID: strings[3], platform: strings[4], createdAt: strings[5],
                             updatedAt: strings[6])
    }

    /// The whole state as the reference's `_save` builds it, as a JSON value:
    /// `sessions`, `trees`, `node_to_tree`, `message_log`, in that order.
    public func fileDocument() -> JSONValue {
        var sessionsObject = JSONObject()
        for (key, record) in sessions.entries {
            sessionsObject.appendUnchecked(key: key, value: [
                "session_id": .string(record.sessionID),
                "chat_id": .string(record.chatID),
                "initial_msg_id": .string(record.initialMessageID),
                "last_msg_id": .string(record.lastMessageID),
                "platform": .string(record.platform),
                "created_at": .string(record.createdAt),
                "updated_at": .string(record.updatedAt),
            ])
        }
        var logObject = JSONObject()
        for (chatKey, entries) in messageLog.entries {
            logObject.appendUnchecked(key: chatKey, value: .array(entries.map { entry in
                [
                    "message_id": .string(entry.messageID),
                    "ts": .string(entry.ts),
                    "direction": .string(entry.direction),
                    "kind": .string(entry.kind),
                ]
            }))
        }
        return [
            "sessions": .object(sessionsObject),
            "trees": .object(allTrees()),
            "node_to_tree": .object(nodeMapping()),
            "message_log": .object(logObject),
        ]
    }

    /// The file bytes, laid out as the reference's `json.dump(data, f, indent=2)`
    /// writes them (ASCII only, `": "` after keys, no trailing newline), so a
    /// Python reader and a diff see the same file either implementation wrote.
    public func serialize() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        IndentedJSON.write(fileDocument(), indent: 0, to: &out)
        return out
    }
}

/// `json.dump(..., indent=2)` layout; leaves are written by `pythonDumpsBytes`
/// so escaping and float formatting are exactly `json.dumps`'s.
enum IndentedJSON {
    static func write(_ value: JSONValue, indent: Int, to out: inout [UInt8]) {
        switch value {
        case .array(let elements) where !elements.isEmpty:
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 2, &out)
                write(element, indent: indent + 2, to: &out)
            }
            newline(indent, &out)
            out.append(UInt8(ascii: "]"))
        case .object(let object) where !object.isEmpty:
            out.append(UInt8(ascii: "{"))
            for (i, entry) in object.entries.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 2, &out)
                out.append(contentsOf: JSONValue.string(entry.key).pythonDumpsBytes())
                out.append(UInt8(ascii: ":"))
                out.append(UInt8(ascii: " "))
                write(entry.value, indent: indent + 2, to: &out)
            }
            newline(indent, &out)
            out.append(UInt8(ascii: "}"))
        default:
            out.append(contentsOf: value.pythonDumpsBytes())
        }
    }

    private static func newline(_ indent: Int, _ out: inout [UInt8]) {
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent))
    }
}
