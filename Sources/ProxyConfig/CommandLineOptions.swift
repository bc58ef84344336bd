/// The flags `nim-proxy` accepts. Everything else is configured through the
/// environment and `.env`; these override `HOST` / `PORT` and choose the file.
public struct CommandLineOptions: Sendable, Equatable {
    public var host: String?
    public var port: Int?
    public var envFile: String?
    public var showHelp: Bool
    /// Print the README's settings table (`Settings.markdownTable()`) and exit.
    public var printSettingsTable: Bool

    public init(
        host: String? = nil, port: Int? = nil, envFile: String? = nil, showHelp: Bool = false,
        printSettingsTable: Bool = false
    ) {
        self.host = host
        self.port = port
        self.envFile = envFile
        self.showHelp = showHelp
        self.printSettingsTable = printSettingsTable
    }

    public static let usage: String = """
        Usage: nim-proxy [--host HOST] [--port PORT] [--env-file FILE]
               nim-proxy [--env-file FILE] claude [ARGS...]
               nim-proxy [--env-file FILE] stop

        Runs the Anthropic Messages API proxy for NVIDIA NIM. Settings come from the
        environment and from a .env file (the environment wins).

        `claude` starts the server in the background unless one answers already (settings
        from ~/.config/nim-proxy/.env, never ./.env; log in ~/.local/state/nim-proxy) and runs
        claude against it with ARGS; `stop` stops that background server.

        Options:
          --host HOST       address to listen on (overrides HOST; default 127.0.0.1)
          --port PORT       port to listen on, 0 for any free port (overrides PORT; default 8082)
          --env-file FILE   read settings from FILE instead of ./.env
          --print-settings-table
                            print every setting as the README's markdown table and exit
          -h, --help        show this help and exit
        """

    /// Parses the arguments after the program name. Flags take their value as the
    /// next argument or after `=` (`--port=9000`).
    public static func parse(_ args: [String]) throws(CommandLineError) -> CommandLineOptions {
        var options = CommandLineOptions()
        var i = 0
        while i < args.count {
            let arg = args[i]
            i += 1
            let (flag, inlineValue): (String, String?) = {
                guard arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") else { return (arg, nil) }
                return (String(arg[..<eq]), String(arg[arg.index(after: eq)...]))
            }()

            func value() throws(CommandLineError) -> String {
                if let inlineValue { return inlineValue }
                guard i < args.count else { throw CommandLineError("\(flag) needs a value") }
                i += 1
                return args[i - 1]
            }

            switch flag {
            case "-h", "--help":
                if inlineValue != nil { throw CommandLineError("\(flag) takes no value") }
                options.showHelp = true
            case "--print-settings-table":
                if inlineValue != nil { throw CommandLineError("\(flag) takes no value") }
                options.printSettingsTable = true
            case "--host":
                let host = try value()
                if host.isEmpty { throw CommandLineError("--host needs a non-empty value") }
                options.host = host
            case "--port":
                let text = try value()
                guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(text),
                    port <= 65535
                else {
                    throw CommandLineError("--port \(text) is not a valid port: must be between 0 and 65535")
                }
                options.port = port
            case "--env-file":
                let path = try value()
                if path.isEmpty { throw CommandLineError("--env-file needs a non-empty value") }
                options.envFile = path
            default:
                if arg.hasPrefix("-") { throw CommandLineError("unknown option \(flag)") }
                throw CommandLineError("unexpected argument \(arg)")
            }
        }
        return options
    }
}

public struct CommandLineError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String

    public init(_ message: String) { self.message = message }

    /// Followed by a pointer to `--help`, since the caller prints it as is.
    public var description: String { "nim-proxy: \(message) (see --help)" }
}
