// CLICommand: the command line and environment the reference's `CLISession.start_task` gives the CLI,
// made so that no client text is ever read as an option. Pure: the inherited environment is passed in.

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
    ///
    /// Client text never lands where the CLI's option parser could take it for an option: the id is
    /// glued to its option (`--resume=<id>`, one argument), and the prompt comes last, after `--`
    /// (`claude -p -- --help` sends `--help` as the prompt). The reference puts both as separate
    /// arguments, so an id of `--mcp-config=...` or a prompt of `--help` changed how the CLI ran.
    public static func arguments(executable: String, prompt: String, sessionID: String?, forkSession: Bool,
                                 allowedDirectories: [String]) -> [String] {
        var args = [executable]
        if let sessionID, !sessionID.isEmpty, !sessionID.hasPrefix("pending_") {
            args.append("--resume=" + sessionID)
            if forkSession { args.append("--fork-session") }
        }
        args += ["-p", "--output-format", "stream-json", "--dangerously-skip-permissions", "--verbose"]
        for directory in allowedDirectories {
            args += ["--add-dir", directory]
        }
        args += ["--", prompt]
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

    /// Whether a variable of the server's environment may hold a credential. A CLI run with
    /// `--dangerously-skip-permissions` does whatever its prompt says, so it gets none of the
    /// server's: the NIM settings, the proxy token, and any key, token, secret or password by name.
    public static func isSecretName(_ name: String) -> Bool {
        let upper = name.uppercased()
        if upper.hasPrefix("NVIDIA_NIM_") || upper.hasPrefix("PROXY_") { return true }
        let secretSuffixes = ["_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_PASSWD", "_CREDENTIALS"]
        return secretSuffixes.contains { upper.hasSuffix($0) }
    }

    /// The environment a server-run CLI starts from: `inherited` without secrets (by name, and any
    /// variable whose value is one of `secretValues`, whatever its name), then the credential this
    /// server gives its CLIs as both `ANTHROPIC_API_KEY` and `ANTHROPIC_AUTH_TOKEN`.
    public static func childEnvironment(inherited: [(key: String, value: String)], secretValues: [String],
                                        credential: String) -> [(key: String, value: String)] {
        let secrets = Set(secretValues.filter { !$0.isEmpty })
        var env = inherited.filter { !isSecretName($0.key) && !secrets.contains($0.value) }
        env.append((key: "ANTHROPIC_API_KEY", value: credential))
        env.append((key: "ANTHROPIC_AUTH_TOKEN", value: credential))
        return env
    }
}

/// Text a client sends that the server passes to the CLI or keeps as a key.
public enum CLIArgumentCheck {
    /// Why a session id is refused, or nil when it is fine: an id that starts with `-` would read as an
    /// option to a program that parses it apart, and control characters (NUL above all, which cannot
    /// be passed in argv at all) have no place in an id.
    public static func problem(sessionID: String) -> String? {
        if sessionID.hasPrefix("-") { return "must not begin with '-'" }
        if sessionID.unicodeScalars.contains(where: isControl) { return "must not contain control characters" }
        return nil
    }

    /// Why a prompt or a path is refused: argv strings end at NUL, so the CLI would see less than was sent.
    public static func problem(argument: String) -> String? {
        argument.utf8.contains(0) ? "must not contain NUL characters" : nil
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
