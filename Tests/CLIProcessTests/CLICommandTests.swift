import CLIProcess
import Testing

@Suite struct CLICommandTests {
    let options = ["-p", "--output-format", "stream-json", "--dangerously-skip-permissions", "--verbose"]

    @Test func newSession() {
        #expect(CLICommand.arguments(executable: "claude", prompt: "Hello", sessionID: nil, forkSession: false,
                                     allowedDirectories: []) == ["claude"] + options + ["--", "Hello"])
    }

    // Reference: test_start_task_with_session_resume(_and_fork); the id is glued to its option.
    @Test func resumeAndFork() {
        #expect(CLICommand.arguments(executable: "claude", prompt: "Hello", sessionID: "sess_abc", forkSession: false,
                                     allowedDirectories: []) == ["claude", "--resume=sess_abc"] + options + ["--", "Hello"])
        #expect(CLICommand.arguments(executable: "claude", prompt: "Hello", sessionID: "sess_abc", forkSession: true,
                                     allowedDirectories: [])
                == ["claude", "--resume=sess_abc", "--fork-session"] + options + ["--", "Hello"])
    }

    @Test func pendingAndEmptyIDsStartFresh() {
        for id in ["pending_1a2b3c4d", ""] {
            #expect(CLICommand.arguments(executable: "claude", prompt: "x", sessionID: id, forkSession: true,
                                         allowedDirectories: []) == ["claude"] + options + ["--", "x"])
        }
    }

    // Reference: test_start_task_allowed_dirs; the prompt still comes last, after `--`.
    @Test func allowedDirectoriesThenThePrompt() {
        #expect(CLICommand.arguments(executable: "/opt/bin/claude", prompt: "test", sessionID: "s", forkSession: false,
                                     allowedDirectories: ["/dir1", "/dir2"])
                == ["/opt/bin/claude", "--resume=s"] + options + ["--add-dir", "/dir1", "--add-dir", "/dir2", "--", "test"])
    }

    @Test func optionLikeClientTextStaysAnArgument() {
        let args = CLICommand.arguments(executable: "claude", prompt: "--help", sessionID: "--mcp-config={}",
                                        forkSession: false, allowedDirectories: [])
        #expect(args == ["claude", "--resume=--mcp-config={}"] + options + ["--", "--help"])
        // Nothing after the separator but the prompt.
        #expect(args.split(separator: "--", maxSplits: 1).last.map(Array.init) == ["--help"])
    }

    @Test func sessionIDsThatCouldReadAsOptionsOrHoldControlsAreRefused() {
        for id in ["-x", "--resume", "--mcp-config={\"a\":1}", "a\u{0}b", "line\nbreak", "tab\there", "del\u{7F}", "c1\u{85}"] {
            #expect(CLIArgumentCheck.problem(sessionID: id) != nil, "\(id)")
        }
        for id in ["sess_abc", "pending_1a2b3c4d", "8c3f-11ee-b962", "a-b", "é", ""] {
            #expect(CLIArgumentCheck.problem(sessionID: id) == nil, "\(id)")
        }
        #expect(CLIArgumentCheck.problem(argument: "a\u{0}b") != nil)
        #expect(CLIArgumentCheck.problem(argument: "--help\n") == nil)
    }

    @Test func secretsAreRecognizedByName() {
        for name in ["NVIDIA_NIM_API_KEY", "nvidia_nim_base_url", "PROXY_AUTH_TOKEN", "OPENROUTER_API_KEY",
                     "TELEGRAM_BOT_TOKEN", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "APP_SECRET"] {
            #expect(CLICommand.isSecretName(name), "\(name)")
        }
        for name in ["PATH", "HOME", "TERM", "LANG", "ANTHROPIC_MODEL", "TOKENIZERS_PARALLELISM", "KEYBOARD"] {
            #expect(!CLICommand.isSecretName(name), "\(name)")
        }
    }

    @Test func childEnvironmentCarriesOnlyTheCLICredential() {
        let inherited: [(key: String, value: String)] = [
            ("PATH", "/bin"), ("NVIDIA_NIM_API_KEY", "nvapi-1"), ("PROXY_AUTH_TOKEN", "admin"),
            ("ANTHROPIC_API_KEY", "sk-old"), ("ANTHROPIC_AUTH_TOKEN", "old"), ("RENAMED", "nvapi-1"),
            ("KEPT", "yes"),
        ]
        let env = CLICommand.childEnvironment(inherited: inherited, secretValues: ["nvapi-1", "admin", ""],
                                              credential: "cli-tok")
        #expect(env.map(\.key) == ["PATH", "KEPT", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"])
        #expect(value(env, "ANTHROPIC_API_KEY") == "cli-tok")
        #expect(value(env, "ANTHROPIC_AUTH_TOKEN") == "cli-tok")
        // The session's overrides keep the credential.
        #expect(value(CLICommand.environment(inherited: env, apiURL: "http://127.0.0.1:1/v1"), "ANTHROPIC_API_KEY") == "cli-tok")
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
