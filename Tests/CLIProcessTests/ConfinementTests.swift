import CLIProcess
import EventLoop
import JSON
import TestSupport
import Testing
import Text
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ConfinementTests {
    @Test func containmentIsByWholeComponents() {
        #expect(Confinement.contains(root: "/srv/ws", "/srv/ws"))
        #expect(Confinement.contains(root: "/srv/ws", "/srv/ws/a/b"))
        #expect(Confinement.contains(root: "/srv/ws/", "/srv/ws/a"))
        #expect(!Confinement.contains(root: "/srv/ws", "/srv/wsx"))
        #expect(!Confinement.contains(root: "/srv/ws", "/srv"))
        #expect(!Confinement.contains(root: "/srv/ws", "/etc"))
        #expect(Confinement.contains(root: "/", "/etc"))
    }

    /// A fresh directory, resolved (the temp dir itself may sit behind a symlink).
    func makeRoot() throws -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/confinement-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        try #require(made != nil)
        let path = String(cBuffer: template)
        guard case .success(let confinement) = Confinement.resolving(path) else {
            Issue.record("cannot resolve \(path)")
            return path
        }
        return confinement.root
    }

    @Test func pathsAreResolvedBeforeTheyAreCompared() throws {
        let top = try makeRoot()
        let root = top + "/root"
        #expect(mkdir(root, 0o755) == 0)
        #expect(mkdir(root + "/inside", 0o755) == 0)
        #expect(mkdir(top + "/outside", 0o755) == 0)
        #expect(symlink(top + "/outside", root + "/escape") == 0)
        #expect(symlink(root + "/inside", root + "/alias") == 0)
        let confinement = Confinement(root: root)

        #expect(confinement.admit(root) == .success(root))
        #expect(confinement.admit(root + "/inside/") == .success(root + "/inside"))
        #expect(confinement.admit(root + "/alias") == .success(root + "/inside"))
        #expect(confinement.admit(root + "/inside/../inside") == .success(root + "/inside"))
        // Not made yet: the deepest existing ancestor is resolved and the rest appended.
        #expect(confinement.admit(root + "/inside/new/deeper") == .success(root + "/inside/new/deeper"))

        for path in [root + "/..", root + "/../outside", root + "/escape", root + "/escape/sub", top + "/outside",
                     root + "/escape/new", "/etc", root + "/new/../../outside"] {
            guard case .failure(let error) = confinement.admit(path) else {
                Issue.record("admitted \(path)")
                continue
            }
            #expect(error.path == path)
        }
        if case .failure(let error) = confinement.admit(root + "/escape") {
            #expect(error.reason == "resolves to \(top)/outside, outside \(root)")
        }
        if case .failure(let error) = confinement.admit(root + "/a\u{0}b") {
            #expect(error.reason.contains("NUL"))
        } else {
            Issue.record("admitted a path with NUL")
        }
    }
}

@Suite struct ConfinedSessionTests {
    /// A workspace swapped for a symlink out of the root after the manager checked it: the next run
    /// is refused before anything starts.
    @Test func eachRunChecksTheDirectoriesAgain() throws {
        let top = try ConfinementTests().makeRoot()
        let root = top + "/root"
        #expect(mkdir(root, 0o755) == 0 && mkdir(root + "/ws", 0o755) == 0 && mkdir(top + "/outside", 0o755) == 0)
        try withLoop { loop in
            let session = CLISession(loop: loop, workspace: root + "/ws", apiURL: "http://127.0.0.1:1/v1",
                                     executable: fakeClaude, inheritedEnvironment: testEnvironment,
                                     registry: ProcessRegistry(), confinement: Confinement(root: root))
            #expect(rawLines(try runTask(session, prompt: "pwd")) == [root + "/ws"])
            #expect(rmdir(root + "/ws") == 0 && symlink(top + "/outside", root + "/ws") == 0)
            let events = try runTask(session, prompt: "pwd")
            #expect(rawLines(events).isEmpty)
            #expect(events.first?["type"] == "error")
            #expect(events.first?["error"]?["message"]?.stringValue?.contains("outside \(root)") == true)
            #expect(events.last == ["type": "exit", "code": 126, "stderr": nil])
        }
    }
}
