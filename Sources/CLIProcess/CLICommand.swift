// CLICommand: the command line and environment the reference's `CLISession.start_task` gives the CLI.
// Pure: the inherited environment is passed in.

/// How one CLI run is launched.
public struct CLICommand: Equatable, Sendable {
    /// argv, starting with the executable.
    public var arguments: [String]
    /// `KEY=VALUE` pairs in order.
    public var environment: [(key: String, value: String)]

    public static func == (a: CLICommand, b: CLICommand) -> Bool {
        a.arguments == b.arguments && a.environment.elementsEqual(b.environment, by: { $0 == $1 })
    }

    /// The placeholder key the reference sets when none is configured: the CLI refuses to start
    /// without one, and the proxy ignores it.
    public static let placeholderAPIKey = "sk-placeholder-key-for-proxy"

    /// A session id resumes a conversation unless it is one of the manager's temporary ids
    /// (`pending_...`), which the CLI has never seen. `--fork-session` only goes with `--resume`.
    public static func arguments(executable: String, prompt: String, sessionID: String?, forkSession: Bool,
                                 allowedDirectories: [String]) -> [String] {
        var args = [executable]
        if let sessionID, !sessionID.isEmpty, !sessionID.hasPrefix("pending_") {
            args += ["--resume", sessionID]
            if forkSession { args.append("--fork-session") }
        }
        args += ["-p", prompt, "--output-format", "stream-json", "--dangerously-skip-permissions", "--verbose"]
        for directory in allowedDirectories {
            args += ["--add-dir", directory]
        }
        return args
    }

    /// The inherited environment with the reference's overrides: a placeholder `ANTHROPIC_API_KEY` when
    /// absent (an empty value counts as present, as in the reference), `ANTHROPIC_API_URL`, the base URL
    /// (the API URL without a trailing `/v1`), a dumb terminal and UTF-8 for Python tools.
    public static func environment(inherited: [(key: String, value: String)],
                                   apiURL: String) -> [(key: String, value: String)] {
        var env = inherited
        func set(_ key: String, _ value: String) {
            if let i = env.firstIndex(where: { $0.key == key }) {
                env[i].value = value
            } else {
                env.append((key, value))
            }
        }
        if !env.contains(where: { $0.key == "ANTHROPIC_API_KEY" }) {
            set("ANTHROPIC_API_KEY", placeholderAPIKey)
        }
        set("ANTHROPIC_API_URL", apiURL)
        set("ANTHROPIC_BASE_URL", apiURL.hasSuffix("/v1") ? String(apiURL.dropLast(3)) : apiURL)
        set("TERM", "dumb")
        set("PYTHONIOENCODING", "utf-8")
        return env
    }
}
