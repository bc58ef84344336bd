#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import JSON
import Testing
@testable import SessionStore
@testable import SessionStoreFile

@Suite struct PersistenceTests {
    @Test func writeAtomicallyReplacesContentAndLeavesNoTempFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("sessions.json")
        try SessionFilePersistence.writeAtomically(path: path, bytes: Array("first".utf8))
        #expect(readFileBytes(path) == Array("first".utf8))
        try SessionFilePersistence.writeAtomically(path: path, bytes: Array("second, longer".utf8))
        #expect(readFileBytes(path) == Array("second, longer".utf8))
        try SessionFilePersistence.writeAtomically(path: path, bytes: [])
        #expect(readFileBytes(path) == [])
        #expect(dir.entries() == ["sessions.json"])
    }

    @Test func writeAtomicallyKeepsTheFileMode() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("sessions.json")
        writeFile(path, "old")
        chmod(path, 0o600)
        try SessionFilePersistence.writeAtomically(path: path, bytes: Array("new".utf8))
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
    }

    @Test func writeIntoMissingDirectoryFailsCleanly() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            try SessionFilePersistence.writeAtomically(path: dir.file("nope/sessions.json"), bytes: [1])
            Issue.record("expected an error")
        } catch {
            #expect(error.code == ENOENT)
            #expect(error.operation == "create")
        }
        #expect(dir.entries().isEmpty)
    }

    /// A burst of updates with saves in between: after every save the file on
    /// disk parses and loads, and equals the state it was taken from.
    @Test func burstOfUpdatesAlwaysLeavesACompleteFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("sessions.json")
        var state = SessionStoreState()
        for i in 0..<60 {
            let root = "root\(i % 7)"
            var nodes = JSONObject()
            for n in 0...(i % 5) { nodes["\(root)-n\(n)"] = ["created_at": "2025-01-01T00:00:00+00:00", "text": .string(String(repeating: "é", count: i * 13))] }
            try state.saveTree(rootID: root, treeData: obj(["root_id": .string(root), "nodes": .object(nodes)]))
            state.registerNode("status\(i)", rootID: root)
            state.recordMessageID(platform: "telegram", chatID: "c\(i % 3)", messageID: "\(i)", direction: "out",
                                  kind: "status", now: UTCTime(secondsSinceEpoch: 1_700_000_000 + Int64(i)))
            if i % 4 == 3 {
                let snapshot = state
                try SessionFilePersistence.writeAtomically(path: path, bytes: snapshot.serialize())
                let onDisk = try #require(readFileBytes(path))
                let loaded = try SessionStoreState(loading: onDisk)
                #expect(loaded.serialize() == snapshot.serialize())
                #expect(dir.entries() == ["sessions.json"])
            }
            if i == 30 {
                state.clearAll()
                try SessionFilePersistence.writeAtomically(path: path, bytes: state.serialize())
                #expect(try SessionStoreState(loading: #require(readFileBytes(path))).allTrees().isEmpty)
            }
        }
    }

    @Test func corruptFileIsMovedAsideNeverOverwritten() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("sessions.json")
        let now = UTCTime.utc(2025, 2, 3, 4, 5, 6)
        writeFile(path, "{broken")
        let first = try SessionFilePersistence.loadOrQuarantine(path: path, now: now)
        #expect(first.quarantine?.quarantinePath == path + ".corrupt-20250203T040506Z")
        #expect(first.quarantine?.reason.hasPrefix("not valid JSON") == true)
        // Same second, another bad file: a new name, the first one untouched.
        writeFile(path, "[1, 2]")
        let second = try SessionFilePersistence.loadOrQuarantine(path: path, now: now)
        #expect(second.quarantine?.quarantinePath == path + ".corrupt-20250203T040506Z-1")
        #expect(second.quarantine?.reason.hasPrefix("unexpected structure") == true)
        #expect(readFileBytes(path + ".corrupt-20250203T040506Z") == Array("{broken".utf8))
        #expect(readFileBytes(path + ".corrupt-20250203T040506Z-1") == Array("[1, 2]".utf8))
        #expect(dir.entries() == ["sessions.json.corrupt-20250203T040506Z", "sessions.json.corrupt-20250203T040506Z-1"])
    }

    @Test func unreadableFileIsQuarantined() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("sessions.json")
        // A directory where the file should be cannot be read as a file.
        #expect(mkdir(path, 0o755) == 0)
        let result = try SessionFilePersistence.loadOrQuarantine(path: path, now: .utc(2025, 1, 1))
        #expect(result.quarantine?.quarantinePath == path + ".corrupt-20250101T000000Z")
        #expect(!fileExists(path))
        #expect(result.state.allTrees().isEmpty)
    }

    @Test func validFileLoadsWithoutQuarantine() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("sessions.json")
        writeFile(path, #"{"trees": {"r": {"nodes": {"r": {}}}}, "node_to_tree": {"r": "r"}}"#)
        let result = try SessionFilePersistence.loadOrQuarantine(path: path, now: .utc(2025, 1, 1), messageLogCap: 2)
        #expect(result.quarantine == nil)
        #expect(result.state.treeRoot(forNode: "r") == "r")
        #expect(result.state.messageLogCap == 2)
        #expect(dir.entries() == ["sessions.json"])
    }

    @Test func directoryNames() {
        #expect(SessionFilePersistence.directoryName(of: "a/b/c.json") == "a/b")
        #expect(SessionFilePersistence.directoryName(of: "c.json") == ".")
        #expect(SessionFilePersistence.directoryName(of: "/c.json") == "/")
    }
}
