// The session store's RPC: one table from the reference's method name to its handler. Each entry
// is served as `POST /store/<name>`, so the set of names is the table's.

import AnthropicAPI
import HTTPServer
import JSON
import SessionStore
import SessionStoreFile

/// One store method: reads its keyword arguments, applies the call, answers through the reply.
typealias StoreMethod = @Sendable (SessionStoreService, Arguments, Reply) throws(APIError) -> Void

extension BotAPI {
    static let storeMethods: [(name: String, call: StoreMethod)] = [
        ("record_message_id", { store, args, reply throws(APIError) in
            let platform = try args.text("platform"), chat = try args.text("chat_id")
            let message = try args.nullableText("message_id")
            let direction = try args.text("direction"), kind = try args.text("kind")
            store.mutate { $0.recordMessageID(platform: platform, chatID: chat, messageID: message,
                                              direction: direction, kind: kind, now: currentUTCTime()) }
            reply.result(.null)
        }),
        ("get_message_ids_for_chat", { store, args, reply throws(APIError) in
            let ids = store.state.messageIDs(platform: try args.text("platform"), chatID: try args.text("chat_id"))
            reply.result(.array(ids.map { .string($0) }))
        }),
        ("clear_all", { store, _, reply in
            store.mutate({ $0.clearAll() }, onWritten: reply.afterWrite)
        }),
        ("save_tree", { store, args, reply throws(APIError) in
            let root = try args.text("root_id"), tree = try args.jsonObject("tree_data")
            try store.mutateOrRefuse("save_tree", reply) { state throws(SessionStoreError) in
                try state.saveTree(rootID: root, treeData: tree)
            }
        }),
        ("get_tree", { store, args, reply throws(APIError) in
            reply.result(store.state.tree(rootID: try args.text("root_id")).map { .object($0) } ?? .null)
        }),
        ("get_tree_root_for_node", { store, args, reply throws(APIError) in
            reply.result(store.state.treeRoot(forNode: try args.text("node_id")).map { .string($0) } ?? .null)
        }),
        ("register_node", { store, args, reply throws(APIError) in
            let node = try args.text("node_id"), root = try args.text("root_id")
            store.mutate { $0.registerNode(node, rootID: root) }
            reply.result(.null)
        }),
        ("get_all_trees", { store, _, reply in
            reply.result(.object(store.state.allTrees()))
        }),
        ("get_node_mapping", { store, _, reply in
            reply.result(.object(store.state.nodeMapping()))
        }),
        ("sync_from_tree_data", { store, args, reply throws(APIError) in
            let trees = try args.jsonObject("trees"), mapping = try args.jsonObject("node_to_tree")
            try store.mutateOrRefuse("sync_from_tree_data", reply) { state throws(SessionStoreError) in
                try state.syncFromTreeData(trees: trees, nodeToTree: mapping)
            }
        }),
        ("cleanup_old_trees", { store, args, reply throws(APIError) in
            let days = try args.int("max_age_days", default: 30)
            let removed = store.mutate { $0.cleanupOldTrees(maxAgeDays: days, now: currentUTCTime()) }
            reply.result(.int(removed))
        }),
        ("flush_pending_save", { store, _, reply in
            store.flush(reply.afterWrite)
        }),
    ]

    /// 503 while the store is unavailable; otherwise the arguments are read and the call applied.
    func callStore(_ name: String, _ method: StoreMethod, _ request: HTTPRequest, _ reply: Reply) {
        guard let store else {
            reply.error(.api("The session store is unavailable: \(storeProblem ?? "not loaded")", status: 503))
            return
        }
        do throws(APIError) {
            try method(store, try Arguments(method: name, body: request.body), reply)
        } catch {
            reply.error(error)
        }
    }
}

extension SessionStoreService {
    /// A change the store may refuse (malformed tree data): null once applied, or a 400 naming the call.
    func mutateOrRefuse(_ call: String, _ reply: Reply,
                        _ body: (inout SessionStoreState) throws(SessionStoreError) -> Void) throws(APIError) {
        do {
            try mutate(body)
        } catch {
            throw APIError.invalidRequest("\(call)(): \(error)")
        }
        reply.result(.null)
    }
}

extension Reply {
    /// For a change answered once the sessions file is written: null, or 500 naming the failure.
    func afterWrite(_ failure: SessionFileIOError?) {
        if let failure {
            error(.api("Could not write the sessions file: \(failure)"))
        } else {
            result(.null)
        }
    }
}
