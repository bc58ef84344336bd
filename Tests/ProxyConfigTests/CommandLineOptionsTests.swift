import ProxyConfig
import Testing

private func parseError(_ args: [String]) -> String? {
    do {
        _ = try CommandLineOptions.parse(args)
        return nil
    } catch {
        return error.message
    }
}

@Suite struct CommandLineOptionsTests {
    @Test func noArguments() throws {
        #expect(try CommandLineOptions.parse([]) == CommandLineOptions())
    }

    @Test func separateAndInlineValues() throws {
        let options = try CommandLineOptions.parse(["--host", "0.0.0.0", "--port=9000", "--env-file", "conf/.env"])
        #expect(options == CommandLineOptions(host: "0.0.0.0", port: 9000, envFile: "conf/.env"))
        let inline = try CommandLineOptions.parse(["--host=::1", "--port", "0", "--env-file=a=b.env"])
        #expect(inline == CommandLineOptions(host: "::1", port: 0, envFile: "a=b.env"))
    }

    @Test func help() throws {
        #expect(try CommandLineOptions.parse(["-h"]).showHelp)
        #expect(try CommandLineOptions.parse(["--port", "1", "--help"]).showHelp)
        #expect(CommandLineOptions.usage.contains("--env-file FILE"))
    }

    @Test func printSettingsTable() throws {
        #expect(try CommandLineOptions.parse(["--print-settings-table"]) == CommandLineOptions(printSettingsTable: true))
        #expect(!(try CommandLineOptions.parse([]).printSettingsTable))
        #expect(CommandLineOptions.usage.contains("--print-settings-table"))
    }

    @Test(arguments: [
        (["--verbose"], "unknown option --verbose"),
        (["--verbose=1"], "unknown option --verbose"),
        (["-p", "80"], "unknown option -p"),
        (["serve"], "unexpected argument serve"),
        (["--port"], "--port needs a value"),
        (["--host"], "--host needs a value"),
        (["--host="], "--host needs a non-empty value"),
        (["--env-file"], "--env-file needs a value"),
        (["--port", "http"], "--port http is not a valid port: must be between 0 and 65535"),
        (["--port=70000"], "--port 70000 is not a valid port: must be between 0 and 65535"),
        (["--port=-1"], "--port -1 is not a valid port: must be between 0 and 65535"),
        (["--help=yes"], "--help takes no value"),
        (["--print-settings-table=1"], "--print-settings-table takes no value"),
    ])
    func rejects(args: [String], message: String) {
        #expect(parseError(args) == message)
    }

    @Test func errorDescriptionPointsAtHelp() {
        #expect(CommandLineError("unknown option --x").description == "nim-proxy: unknown option --x (see --help)")
    }
}
