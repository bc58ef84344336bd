import JSON

/// One Claude CLI session as the reference's `SessionRecord` dataclass keeps it.
/// The current reference only loads and re-saves these (no method creates one),
/// so they matter for carrying old files forward without loss.
public struct SessionRecord: Sendable, Equatable {
    public var sessionID: String
    public var chatID: String
    public var initialMessageID: String
    public var lastMessageID: String
    public var platform: String
    public var createdAt: String
    public var updatedAt: String

    public init(sessionID: String, chatID: String, initialMessageID: String, lastMessageID: String,
                platform: String, createdAt: String, updatedAt: String) {
        self.sessionID = sessionID
        self.chatID = chatID
        self.initialMessageID = initialMessageID
        self.lastMessageID = lastMessageID
        self.platform = platform
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// One entry of a chat's message log (kept for the bot's best-effort `/clear`).
public struct MessageLogEntry: Sendable, Equatable {
    public var messageID: String
    /// `isoformat()` of the UTC time it was recorded ("" for legacy entries without one).
    public var ts: String
    public var direction: String
    public var kind: String

    public init(messageID: String, ts: String, direction: String, kind: String) {
        self.messageID = messageID
        self.ts = ts
        self.direction = direction
        self.kind = kind
    }
}

/// How soon the state wants to be written, as the reference decides it:
/// most mutations restart the 0.5 s debounce (`_schedule_save`), `clear_all` and
/// `flush_pending_save` write at once (`_flush_save`).
public enum SaveRequest: Int, Sendable, Comparable {
    case none = 0
    case debounced = 1
    case immediate = 2

    public static func < (lhs: SaveRequest, rhs: SaveRequest) -> Bool { lhs.rawValue < rhs.rawValue }
}

public enum SessionStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Tree data whose `nodes` member is not an object. The reference stores the
    /// tree and then raises `AttributeError` without scheduling a save; here the
    /// call is refused before anything changes.
    case nodesNotAnObject(rootID: String)
    /// `sync_from_tree_data` got a tree that is not an object or a node mapping
    /// whose value is not a string; both would break the file's shape.
    case invalidTrees(String)
    case invalidNodeMapping(String)

    public var description: String {
        switch self {
        case .nodesNotAnObject(let root): return "tree \(root): \"nodes\" must be an object"
        case .invalidTrees(let detail): return "invalid trees: \(detail)"
        case .invalidNodeMapping(let detail): return "invalid node_to_tree: \(detail)"
        }
    }
}

/// Everything the reference's `SessionStore` holds, without its lock, timer or
/// file: a plain value the loop owns. Each method maps to one public method of
/// the reference (named in its doc comment) with the same results. Methods that
/// change what would be saved raise `pendingSave`; the owner drains it with
/// `takePendingSave()` and feeds the result to a `SaveDebouncer`.
///
/// Being a value, a snapshot for a background save is just a copy.
public struct SessionStoreState: Sendable {
    public private(set) var sessions = OrderedMap<SessionRecord>()
    /// `"platform:chat_id:msg_id"` -> session id, for the initial and last message of each session.
    public private(set) var messageToSession = OrderedMap<String>()
    private var trees = OrderedMap<JSONObject>()
    private var nodeToTree = OrderedMap<String>()
    /// `"platform:chat_id"` -> entries in recording order.
    public private(set) var messageLog = OrderedMap<[MessageLogEntry]>()
    private var messageLogIDs: [String: Set<String>] = [:]

    /// `MAX_MESSAGE_LOG_ENTRIES_PER_CHAT` (see `PythonText.messageLogCap`): nil
    /// or non-positive keeps every entry, as the reference's default does.
    public var messageLogCap: Int?

    /// The strongest save request raised since the last `takePendingSave()`.
    public private(set) var pendingSave: SaveRequest = .none

    public init(messageLogCap: Int? = nil) {
        self.messageLogCap = messageLogCap
    }

    /// Returns and clears the pending save request.
    public mutating func takePendingSave() -> SaveRequest {
        defer { pendingSave = .none }
        return pendingSave
    }

    private mutating func requestSave(_ request: SaveRequest) {
        pendingSave = max(pendingSave, request)
    }

    // MARK: - Sessions (loaded from older files, kept and re-saved)

    static func messageKey(platform: String, chatID: String, messageID: String) -> String {
        "\(platform):\(chatID):\(messageID)"
    }

    static func chatKey(platform: String, chatID: String) -> String { "\(platform):\(chatID)" }

    /// The session whose initial or last message this is (the reference's
    /// `_msg_to_session` lookup; it has no public getter there).
    public func sessionID(platform: String, chatID: String, messageID: String) -> String? {
        messageToSession[Self.messageKey(platform: platform, chatID: chatID, messageID: messageID)]
    }

    /// Adds a session as the reference's loader does, indexing both message ids.
    mutating func insertLoadedSession(key: String, _ record: SessionRecord) {
        sessions[key] = record
        messageToSession[Self.messageKey(platform: record.platform, chatID: record.chatID,
                                         messageID: record.initialMessageID)] = key
        messageToSession[Self.messageKey(platform: record.platform, chatID: record.chatID,
                                         messageID: record.lastMessageID)] = key
    }

    mutating func setLoadedMessageLog(chatKey: String, _ entries: [MessageLogEntry]) {
        messageLog[chatKey] = entries
        messageLogIDs[chatKey] = Set(entries.map(\.messageID))
    }

    mutating func setLoadedTrees(_ trees: OrderedMap<JSONObject>, nodeToTree: OrderedMap<String>) {
        self.trees = trees
        self.nodeToTree = nodeToTree
    }

    // MARK: - Public methods of the reference

    /// `flush_pending_save()`: write now, whether or not anything changed
    /// (the reference always rewrites the file here).
    public mutating func flushPendingSave() {
        requestSave(.immediate)
    }

    /// `record_message_id(platform, chat_id, message_id, direction, kind)`.
    /// A nil message id is ignored; a message id already recorded for the chat
    /// changes nothing (and schedules no save). `now` becomes the entry's `ts`.
    /// With a cap set, the oldest entries beyond it are dropped.
    public mutating func recordMessageID(platform: String, chatID: String, messageID: String?,
                                         direction: String, kind: String, now: UTCTime) {
        guard let messageID else { return }
        let chatKey = Self.chatKey(platform: platform, chatID: chatID)
        if messageLogIDs[chatKey, default: []].contains(messageID) { return }
        let cap = messageLogCap
        let kept: Set<String>? = messageLog.withValue(forKey: chatKey, default: []) { entries in
            entries.append(MessageLogEntry(messageID: messageID, ts: now.isoformat, direction: direction, kind: kind))
            guard let cap, cap > 0, entries.count > cap else { return nil }
            entries.removeFirst(entries.count - cap)
            return Set(entries.map(\.messageID))
        }
        if let kept {
            messageLogIDs[chatKey] = kept
        } else {
            messageLogIDs[chatKey, default: []].insert(messageID)
        }
        requestSave(.debounced)
    }

    /// `get_message_ids_for_chat(platform, chat_id)`: ids in recording order, [] for an unknown chat.
    public func messageIDs(platform: String, chatID: String) -> [String] {
        (messageLog[Self.chatKey(platform: platform, chatID: chatID)] ?? []).map(\.messageID)
    }

    /// `clear_all()`: forget everything and write the empty store at once.
    public mutating func clearAll() {
        sessions.removeAll()
        messageToSession.removeAll()
        trees.removeAll()
        nodeToTree.removeAll()
        messageLog.removeAll()
        messageLogIDs.removeAll()
        requestSave(.immediate)
    }

    /// `save_tree(root_id, tree_data)`: store (or replace, keeping its position)
    /// the tree and map each key of its `nodes` object to `rootID`. Mappings of
    /// nodes that left the tree are kept, as in the reference.
    public mutating func saveTree(rootID: String, treeData: JSONObject) throws(SessionStoreError) {
        let nodeIDs: [String]
        switch treeData["nodes"] {
        case nil: nodeIDs = []
        case .object(let nodes)?: nodeIDs = nodes.keys
        default: throw .nodesNotAnObject(rootID: rootID)
        }
        trees[rootID] = treeData
        for nodeID in nodeIDs { nodeToTree[nodeID] = rootID }
        requestSave(.debounced)
    }

    /// `get_tree(root_id)`.
    public func tree(rootID: String) -> JSONObject? { trees[rootID] }

    /// `get_tree_root_for_node(node_id)`.
    public func treeRoot(forNode nodeID: String) -> String? { nodeToTree[nodeID] }

    /// `register_node(node_id, root_id)`: the root need not exist.
    public mutating func registerNode(_ nodeID: String, rootID: String) {
        nodeToTree[nodeID] = rootID
        requestSave(.debounced)
    }

    /// `get_all_trees()`: root id -> tree data, in insertion order.
    public func allTrees() -> JSONObject { trees.jsonObject }

    /// `get_node_mapping()`: node id -> root id (string values), in insertion order.
    public func nodeMapping() -> JSONObject { nodeToTree.jsonObject }

    /// `sync_from_tree_data(trees, node_to_tree)`: replace both wholesale (the
    /// node mapping is taken as given, not derived from the trees).
    public mutating func syncFromTreeData(trees newTrees: JSONObject, nodeToTree newMapping: JSONObject)
        throws(SessionStoreError)
    {
        var trees = OrderedMap<JSONObject>()
        for entry in newTrees {
            guard case .object(let tree) = entry.value else {
                throw .invalidTrees("tree \(entry.key) is \(entry.value.typeName), expected object")
            }
            trees[entry.key] = tree
        }
        var mapping = OrderedMap<String>()
        for entry in newMapping {
            guard case .string(let root) = entry.value else {
                throw .invalidNodeMapping("node \(entry.key) maps to \(entry.value.typeName), expected string")
            }
            mapping[entry.key] = root
        }
        self.trees = trees
        self.nodeToTree = mapping
        requestSave(.debounced)
    }

    /// `cleanup_old_trees(max_age_days=30)`: drop trees whose root node's
    /// `created_at` is more than `maxAgeDays` whole days before `now`, with the
    /// node mappings of all their nodes. Trees whose root has no `created_at`, or
    /// one that is not an aware ISO timestamp, are kept (the reference skips
    /// them on the exception). Returns how many trees were removed.
    public mutating func cleanupOldTrees(maxAgeDays: Int = 30, now: UTCTime) -> Int {
        var expired: [String] = []
        for (rootID, tree) in trees.entries {
            guard let created = Self.rootCreatedAt(tree: tree, rootID: rootID) else { continue }
            if now.wholeDays(since: created) > Int64(maxAgeDays) { expired.append(rootID) }
        }
        for rootID in expired {
            guard let tree = trees.removeValue(forKey: rootID) else { continue }
            if case .object(let nodes)? = tree["nodes"] {
                for nodeID in nodes.keys { nodeToTree.removeValue(forKey: nodeID) }
            }
        }
        if !expired.isEmpty { requestSave(.debounced) }
        return expired.count
    }

    private static func rootCreatedAt(tree: JSONObject, rootID: String) -> UTCTime? {
        let nodes: JSONObject
        switch tree["nodes"] {
        case nil: return nil
        case .object(let o)?: nodes = o
        default: return nil
        }
        let created: JSONValue
        switch nodes[rootID] {
        case nil: return nil
        case .object(let root)?:
            guard let value = root["created_at"] else { return nil }
            created = value
        default: return nil
        }
        // `if created_str:` skips falsy values; a truthy non-string makes
        // `fromisoformat` raise, which the reference also swallows.
        guard case .string(let text) = created, !text.isEmpty,
              case .aware(let time) = ISOTimestamp.parse(text)
        else { return nil }
        return time
    }
}
