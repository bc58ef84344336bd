import CLIProcess
import Testing

@Suite struct CLICommandTests {
    let tail = ["--output-format", "stream-json", "--dangerously-skip-permissions", "--verbose"]

    @Test func newSession() {
        #expect(CLICommand.arguments(executable: "claude", prompt: "Hello", sessionID: nil, forkSession: false,
                                     allowedDirectories: []) == ["claude", "-p", "Hello"] + tail)
    }

    // Reference: test_start_task_with_session_resume(_and_fork).
    @Test func resumeAndFork() {
        #expect(CLICommand.arguments(executable: "claude", prompt: "Hello", sessionID: "sess_abc", forkSession: false,
                                     allowedDirectories: []) == ["claude", "--resume", "sess_abc", "-p", "Hello"] + tail)
        #expect(CLICommand.arguments(executable: "claude", prompt: "Hello", sessionID: "sess_abc", forkSession: true,
                                     allowedDirectories: [])
                == ["claude", "--resume", "sess_abc", "--fork-session", "-p", "Hello"] + tail)
    }

    @Test func pendingAndEmptyIDsStartFresh() {
        for id in ["pending_1a2b3c4d", ""] {
            #expect(CLICommand.arguments(executable: "claude", prompt: "x", sessionID: id, forkSession: true,
                                         allowedDirectories: []) == ["claude", "-p", "x"] + tail)
        }
    }

    // Reference: test_start_task_allowed_dirs.
    @Test func allowedDirectoriesComeLast() {
        #expect(CLICommand.arguments(executable: "/opt/bin/claude", prompt: "test", sessionID: "s", forkSession: false,
                                     allowedDirectories: ["/dir1", "/dir2"])
                == ["/opt/bin/claude", "--resume", "s", "-p", "test"] + tail + ["--add-dir", "/dir1", "--add-dir", "/dir2"])
    }

    func value(_ env: [(key: String, value: String)], _ key: String) -> String? {
        env.first { $0.key == key }?.value
    }

    @Test func environmentWithV1URL() {
        let env = CLICommand.environment(inherited: [("PATH", "/bin"), ("TERM", "xterm-256color")],
                                         apiURL: "http://localhost:8082/v1")
        #expect(value(env, "PATH") == "/bin")
        #expect(value(env, "ANTHROPIC_API_KEY") == "sk-placeholder-key-for-proxy")
        #expect(value(env, "ANTHROPIC_API_URL") == "http://localhost:8082/v1")
        #expect(value(env, "ANTHROPIC_BASE_URL") == "http://localhost:8082")
        #expect(value(env, "TERM") == "dumb")
        #expect(value(env, "PYTHONIOENCODING") == "utf-8")
        #expect(env.filter { $0.key == "TERM" }.count == 1)
    }

    // Reference: test_start_task_non_v1_url.
    @Test func environmentWithOtherURLs() {
        let plain = CLICommand.environment(inherited: [], apiURL: "http://localhost:8082")
        #expect(value(plain, "ANTHROPIC_BASE_URL") == "http://localhost:8082")
        // Only a literal "/v1" suffix is cut.
        let slash = CLICommand.environment(inherited: [], apiURL: "http://h/v1/")
        #expect(value(slash, "ANTHROPIC_BASE_URL") == "http://h/v1/")
        let v10 = CLICommand.environment(inherited: [], apiURL: "http://h/v10")
        #expect(value(v10, "ANTHROPIC_BASE_URL") == "http://h/v10")
    }

    @Test func existingAPIKeyIsKeptEvenWhenEmpty() {
        let set = CLICommand.environment(inherited: [("ANTHROPIC_API_KEY", "sk-real")], apiURL: "u")
        #expect(value(set, "ANTHROPIC_API_KEY") == "sk-real")
        let empty = CLICommand.environment(inherited: [("ANTHROPIC_API_KEY", "")], apiURL: "u")
        #expect(value(empty, "ANTHROPIC_API_KEY") == "")
    }
}
