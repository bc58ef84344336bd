@testable import CLIProcess
import JSON
import Testing

@Suite struct SessionIDExtractionTests {
    // Reference: test_session_extract_session_id.
    @Test func referenceCases() throws {
        #expect(CLIOutputDecoder.extractSessionID(["session_id": "abc123"]) == "abc123")
        #expect(CLIOutputDecoder.extractSessionID(["sessionId": "abc123"]) == "abc123")
        #expect(CLIOutputDecoder.extractSessionID(["init": ["session_id": "nested123"]]) == "nested123")
        #expect(CLIOutputDecoder.extractSessionID(["result": ["session_id": "res123"]]) == "res123")
        #expect(CLIOutputDecoder.extractSessionID(["conversation": ["id": "conv123"]]) == "conv123")
        #expect(CLIOutputDecoder.extractSessionID(["type": "message"]) == nil)
        #expect(CLIOutputDecoder.extractSessionID("not a dict") == nil)
    }

    @Test func everyNestedPlaceAndSpelling() {
        for key in ["init", "system", "result", "metadata"] {
            #expect(CLIOutputDecoder.extractSessionID([key: ["session_id": "a"]]) == "a")
            #expect(CLIOutputDecoder.extractSessionID([key: ["sessionId": "b"]]) == "b")
        }
        #expect(CLIOutputDecoder.extractSessionID(["other": ["session_id": "x"]]) == nil)
        #expect(CLIOutputDecoder.extractSessionID(["result": "text result"]) == nil)
        #expect(CLIOutputDecoder.extractSessionID(["conversation": ["title": "x"]]) == nil)
    }

    @Test func precedenceFollowsTheReference() {
        // Top level before nested; session_id before sessionId; nested keys in init/system/result/metadata order.
        #expect(CLIOutputDecoder.extractSessionID(["init": ["session_id": "n"], "session_id": "top"]) == "top")
        #expect(CLIOutputDecoder.extractSessionID(["sessionId": "camel", "session_id": "snake"]) == "snake")
        #expect(CLIOutputDecoder.extractSessionID(["metadata": ["session_id": "m"], "system": ["session_id": "s"]]) == "s")
        #expect(CLIOutputDecoder.extractSessionID(["conversation": ["id": "c"], "result": ["sessionId": "r"]]) == "r")
    }

    @Test func firstKeyPresentDecidesEvenWhenUnusable() {
        // The reference returns None for a null top-level session_id without looking further.
        #expect(CLIOutputDecoder.extractSessionID(["session_id": nil, "sessionId": "later"]) == nil)
        #expect(CLIOutputDecoder.extractSessionID(["session_id": ""]) == nil)
        #expect(CLIOutputDecoder.extractSessionID(["init": ["session_id": nil], "result": ["session_id": "r"]]) == nil)
        // Only string ids count here (the reference would accept a number).
        #expect(CLIOutputDecoder.extractSessionID(["session_id": 5]) == nil)
    }

    @Test func realClaudeInitLine() throws {
        let line = #"{"type":"system","subtype":"init","cwd":"/w","session_id":"7d4b2f5e-1111-4c2a-9a53-0e2f7c3d9b10","tools":["Bash"]}"#
        #expect(CLIOutputDecoder.extractSessionID(try JSONValue.parse(line)) == "7d4b2f5e-1111-4c2a-9a53-0e2f7c3d9b10")
    }
}

@Suite struct LineEventTests {
    func events(_ lines: [String]) -> ([JSONValue], String?) {
        var decoder = CLIOutputDecoder()
        var out: [JSONValue] = []
        for line in lines { out += decoder.events(forLine: Array(line.utf8)) }
        return (out, decoder.sessionID)
    }

    // Reference: test_start_task_basic_flow (the event part).
    @Test func sessionInfoPrecedesTheEventThatCarriedTheID() {
        let (out, id) = events([#"{"type": "message", "content": "Hello"}"#, #"{"session_id": "sess_1"}"#])
        #expect(out == [
            ["type": "message", "content": "Hello"],
            ["type": "session_info", "session_id": "sess_1"],
            ["session_id": "sess_1"],
        ])
        #expect(id == "sess_1")
    }

    @Test func onlyTheFirstIDIsAnnounced() {
        let (out, id) = events([#"{"session_id":"a"}"#, #"{"session_id":"b"}"#])
        #expect(out == [["type": "session_info", "session_id": "a"], ["session_id": "a"], ["session_id": "b"]])
        #expect(id == "a")
    }

    // Reference: test_start_task_json_error.
    @Test func nonJSONIsRawAndStripped() {
        let (out, _) = events(["Not valid json", "  padded \r", "{broken"])
        #expect(out == [
            ["type": "raw", "content": "Not valid json"],
            ["type": "raw", "content": "padded"],
            ["type": "raw", "content": "{broken"],
        ])
    }

    @Test func blankLinesAreSkipped() {
        let (out, _) = events(["", "   ", "\t\r", "\u{A0}\u{3000}"])
        #expect(out.isEmpty)
    }

    @Test func nonObjectJSONPassesThrough() {
        let (out, id) = events(["42", #"["session_id"]"#, #""text""#])
        #expect(out == [42, ["session_id"], "text"])
        #expect(id == nil)
    }

    @Test func invalidUTF8IsReplaced() {
        var decoder = CLIOutputDecoder()
        let out = decoder.events(forLine: [0x61, 0xFF, 0x62])
        #expect(out == [["type": "raw", "content": "a\u{FFFD}b"]])
    }

    // Reference: test_start_task_process_failure_with_stderr, test_start_task_basic_flow (exit).
    @Test func closingEvents() {
        #expect(CLIOutputDecoder.closingEvents(stderr: [], exitCode: 0) == [["type": "exit", "code": 0, "stderr": nil]])
        #expect(CLIOutputDecoder.closingEvents(stderr: Array("Fatal error".utf8), exitCode: 1) == [
            ["type": "error", "error": ["message": "Fatal error"]],
            ["type": "exit", "code": 1, "stderr": "Fatal error"],
        ])
        #expect(CLIOutputDecoder.closingEvents(stderr: Array("\n  warn\n\n".utf8), exitCode: 0) == [
            ["type": "error", "error": ["message": "warn"]],
            ["type": "exit", "code": 0, "stderr": "warn"],
        ])
        // Whitespace only: no error event, and "" rather than null (Python's `"".strip()` vs `None`).
        #expect(CLIOutputDecoder.closingEvents(stderr: Array(" \n".utf8), exitCode: 2) == [
            ["type": "exit", "code": 2, "stderr": ""],
        ])
    }

    @Test func exitEventKeyOrder() {
        let exit = CLIOutputDecoder.closingEvents(stderr: [], exitCode: -9)[0]
        #expect(exit.compactString() == #"{"type":"exit","code":-9,"stderr":null}"#)
    }
}

@Suite struct LineSplitterTests {
    // Reference: test_start_task_split_buffer, test_start_task_remnant_buffer.
    @Test func jsonSplitAcrossChunks() {
        var splitter = LineSplitter()
        #expect(splitter.feed(Array(#"{"type": "mess"#.utf8)).isEmpty)
        let lines = splitter.feed(Array("age\", \"content\": \"Split\"}\n".utf8))
        #expect(lines == [Array(#"{"type": "message", "content": "Split"}"#.utf8)])
        #expect(splitter.finish() == nil)
    }

    @Test func remnantWithoutNewline() {
        var splitter = LineSplitter()
        #expect(splitter.feed(Array(#"{"type": "message", "content": "Remnant"}"#.utf8)).isEmpty)
        #expect(splitter.finish() == Array(#"{"type": "message", "content": "Remnant"}"#.utf8))
        #expect(splitter.finish() == nil)
    }

    @Test func byteByByteKeepsMultibyteCharacters() {
        let text = "é€😀 line one\nsecond ✓\n\nlast"
        var splitter = LineSplitter()
        var lines: [[UInt8]] = []
        for byte in Array(text.utf8) { lines += splitter.feed([byte]) }
        if let tail = splitter.finish() { lines.append(tail) }
        #expect(lines.map { String(decoding: $0, as: UTF8.self) } == ["é€😀 line one", "second ✓", "", "last"])
    }

    @Test func manyLinesInOneChunkAndVeryLongLines() {
        var splitter = LineSplitter()
        let long = [UInt8](repeating: 0x61, count: 3_000_000)
        var chunk = Array("a\nb\n".utf8) + long
        #expect(splitter.feed(chunk).map { $0.count } == [1, 1])
        chunk = long + Array("\nc".utf8)
        #expect(splitter.feed(chunk).map { $0.count } == [6_000_000])
        #expect(splitter.finish() == Array("c".utf8))
    }
}

@Suite struct PythonTextTests {
    // Expected values from Python's posixpath.normpath.
    @Test func normpath() {
        let cases: [(String, String)] = [
            ("", "."), (".", "."), ("/", "/"), ("//", "//"), ("///", "/"), ("//a//b/", "//a/b"),
            ("/a/./b/../c/", "/a/c"), ("/../a", "/a"), ("a/../..", ".."), ("../../a", "../../a"),
            ("a/b/../../..", ".."), ("./a/", "a"), ("/srv/project", "/srv/project"), ("a//b", "a/b"),
        ]
        for (input, expected) in cases {
            #expect(CLIText.normalizePath(input) == expected, "normpath(\(input))")
        }
    }

    @Test func absolutePath() {
        #expect(CLIText.absolutePath("/srv/test", currentDirectory: "/home/u") == "/srv/test")
        #expect(CLIText.absolutePath("proj/../w", currentDirectory: "/home/u") == "/home/u/w")
        #expect(CLIText.absolutePath(".", currentDirectory: "/") == "/")
    }
}
