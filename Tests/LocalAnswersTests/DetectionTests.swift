import AnthropicAPI
import JSON
import Testing

@testable import LocalAnswers

func message(_ role: Role, _ text: String) -> Message { Message(role: role, content: .text(text)) }

func blockMessage(_ role: Role, _ texts: String...) -> Message {
    Message(role: role, content: .blocks(texts.map { .text(TextBlock(text: $0)) }))
}

func request(_ messages: [Message], maxTokens: Int? = nil, tools: [Tool]? = nil) -> MessagesRequest {
    MessagesRequest(model: "target", originalModel: "claude-3-sonnet", maxTokens: maxTokens, messages: messages, tools: tools)
}

@Suite struct QuotaCheckTests {
    @Test(arguments: [
        ("Check my quota", 1, Role.user, true),
        ("Check my QUOTA", 1, .user, true),
        ("Hello world", 1, .user, false),
        ("Check my quota", 100, .user, false),
        ("Check my quota", 1, .assistant, false),
        ("quota\u{301}", 1, .user, true),
    ])
    func detection(content: String, maxTokens: Int, role: Role, expected: Bool) {
        #expect(isQuotaCheckRequest(request([message(role, content)], maxTokens: maxTokens)) == expected)
    }

    @Test func listContent() {
        #expect(isQuotaCheckRequest(request([blockMessage(.user, "Check my quota")], maxTokens: 1)))
    }

    @Test func multipleMessages() {
        #expect(!isQuotaCheckRequest(request([message(.user, "Check my quota"), message(.assistant, "Hello")], maxTokens: 1)))
    }

    @Test func emptyMessages() {
        #expect(!isQuotaCheckRequest(request([], maxTokens: 1)))
    }

    @Test func missingMaxTokens() {
        #expect(!isQuotaCheckRequest(request([message(.user, "quota")])))
    }

    @Test func systemRoleMessagesAreNotConversation() {
        #expect(isQuotaCheckRequest(request([message(.user, "quota"), message(.system, "note")], maxTokens: 1)))
        #expect(!isQuotaCheckRequest(request([message(.system, "quota")], maxTokens: 1)))
    }
}

@Suite struct TitleGenerationTests {
    @Test(arguments: [
        ("Please write a 5-10 word title for this conversation", Role.user, true),
        ("Write a 5-10 Word Title please", .user, true),
        ("Hello world, how are you?", .user, false),
        ("Write a 5-10 word title", .assistant, false),
    ])
    func detection(content: String, role: Role, expected: Bool) {
        #expect(isTitleGenerationRequest(request([message(role, content)])) == expected)
    }

    @Test func listContent() {
        #expect(isTitleGenerationRequest(request([blockMessage(.user, "Write a 5-10 word title")])))
    }

    @Test func emptyMessages() {
        #expect(!isTitleGenerationRequest(request([])))
    }

    @Test func onlyTheLastMessageCounts() {
        #expect(!isTitleGenerationRequest(request([message(.user, "write a 5-10 word title"), message(.assistant, "ok")])))
        #expect(isTitleGenerationRequest(request([message(.assistant, "ok"), message(.user, "write a 5-10 word title")])))
        #expect(isTitleGenerationRequest(request([message(.user, "write a 5-10 word title"), message(.system, "note")])))
    }
}

@Suite struct PrefixDetectionTests {
    @Test func policySpecAndCommand() {
        #expect(prefixDetectionCommand(request([message(.user, "<policy_spec>policy</policy_spec> Command: git status")])) == "git status")
    }

    @Test func commandMarkerIsCaseSensitive() {
        #expect(prefixDetectionCommand(request([message(.user, "<policy_spec>policy</policy_spec> command: git status")])) == nil)
    }

    @Test func needsPolicySpec() {
        #expect(prefixDetectionCommand(request([message(.user, "Command: git status")])) == nil)
    }

    @Test func needsExactlyOneUserMessage() {
        let text = "<policy_spec>policy</policy_spec> Command: git status"
        #expect(prefixDetectionCommand(request([message(.user, text), message(.assistant, "OK")])) == nil)
        #expect(prefixDetectionCommand(request([message(.assistant, text)])) == nil)
    }

    @Test func listContent() {
        #expect(prefixDetectionCommand(request([blockMessage(.user, "<policy_spec>policy</policy_spec> Command: ls -la")])) == "ls -la")
    }

    @Test func lastCommandMarkerWins() {
        let text = "<policy_spec>\nExamples:\nCommand: cat foo => cat\n</policy_spec>\n\nCommand: npm test --foo"
        #expect(prefixDetectionCommand(request([message(.user, text)])) == "npm test --foo")
    }

    /// The shape of Claude Code's prompt: the command is the last thing in the message.
    @Test func realPromptShape() {
        let text = """
            <policy_spec>
            # Claude Code Code Bash command prefix detection
            Examples:
            - git commit -m "foo" => git commit
            - FOO=BAR go test => FOO=BAR go test
            </policy_spec>

            The user has allowed certain command prefixes to be run.
            ONLY return the prefix. Do not return any other text.

            Command: FOO=BAR go test -run TestX ./...
            """
        let command = prefixDetectionCommand(request([message(.user, text)]))
        #expect(command == "FOO=BAR go test -run TestX ./...")
        #expect(extractCommandPrefix(command!) == "FOO=BAR go test")
    }

    /// The reference took all text after `Command:` (`npm Reply`, injection flagged by
    /// backticks in prose); the command now ends at a blank line or a tag line.
    @Test(arguments: [
        ("Command: npm\n\nReply with the prefix only.", "npm"),
        ("Command: ls -la\n\n<note>Answer `none` if unsure</note>", "ls -la"),
        ("Command: ls -la\n<note>Answer `none` if unsure</note>", "ls -la"),
        ("Command: git status  \n   \nmore", "git status"),
        ("Command:\n\ngit status", "git status"),
        // Quoted text and here-documents keep their blank lines and `<` lines.
        ("Command: python -c 'import os\n\nprint(1)'\n\nprose", "python -c 'import os\n\nprint(1)'"),
        ("Command: echo \"a\n\n<b>\"", "echo \"a\n\n<b>\""),
        ("Command: cat <<'EOF' > f.txt\nline\n\n<tag>\nEOF\n\nprose", "cat <<'EOF' > f.txt\nline\n\n<tag>\nEOF"),
        ("Command: cat <<-END\n\ta\n\n\tEND\necho done", "cat <<-END\n\ta\n\n\tEND\necho done"),
        ("Command: echo a \\\n\nb", "echo a \\\n\nb"),
        ("Command: cd src\necho hi", "cd src\necho hi"),
        ("Command: cat a <b\n< c", "cat a <b\n< c"),
    ])
    func commandEndsBeforeFollowingProse(tail: String, expected: String) {
        #expect(prefixDetectionCommand(request([message(.user, "<policy_spec>p</policy_spec>\n" + tail)])) == expected)
    }

    @Test func proseBackticksNoLongerFlagInjection() {
        let text = "<policy_spec>p</policy_spec>\nCommand: git status\n\nReturn `none` when unsure."
        #expect(extractCommandPrefix(prefixDetectionCommand(request([message(.user, text)]))!) == "git status")
    }
}

@Suite struct SuggestionModeTests {
    @Test func anyUserMessage() {
        #expect(isSuggestionModeRequest(request([message(.assistant, "ignore"), message(.user, "Hello\n[SUGGESTION MODE: on]\nworld")])))
    }

    @Test func ignoresNonUserMessages() {
        #expect(!isSuggestionModeRequest(request([message(.assistant, "[SUGGESTION MODE: on]")])))
        #expect(!isSuggestionModeRequest(request([message(.system, "[SUGGESTION MODE: on]")])))
    }

    @Test func caseSensitive() {
        #expect(!isSuggestionModeRequest(request([message(.user, "[suggestion mode: on]")])))
    }
}

@Suite struct FilepathDetectionTests {
    @Test func rejectsWhenToolsPresent() {
        let r = request(
            [message(.user, "Command: cat foo.txt\nOutput: hi\n\nPlease extract <filepaths>.")],
            tools: [Tool(name: "search", inputSchema: JSONObject())])
        #expect(filepathExtractionRequest(r) == nil)
    }

    @Test func emptyToolListDoesNotCount() {
        let r = request([message(.user, "Command: cat foo.txt\nOutput: hi\n\nPlease extract <filepaths>.")], tools: [])
        #expect(filepathExtractionRequest(r)?.command == "cat foo.txt")
    }

    @Test func rejectsWhenMissingOutputMarker() {
        #expect(filepathExtractionRequest(request([message(.user, "Command: cat foo.txt\n(no output marker)\n<filepaths>")])) == nil)
    }

    @Test func rejectsWhenOutputMarkerPrecedesCommand() {
        #expect(filepathExtractionRequest(request([message(.user, "Output: x\nCommand: cat foo.txt filepaths")])) == nil)
    }

    @Test func rejectsWhenNotAskingForFilepaths() {
        #expect(filepathExtractionRequest(request([message(.user, "Command: cat foo.txt\nOutput: hi")])) == nil)
    }

    @Test func extractsCommandAndCleansOutput() {
        let text = "Command: cat foo.txt\nOutput: line1\nline2\n\nPlease extract <filepaths>.\n<next_section>ignore me</next_section>"
        let found = filepathExtractionRequest(request([message(.user, text)]))
        #expect(found?.command == "cat foo.txt")
        #expect(found?.output == "line1\nline2")
    }

    @Test func needsOneUserMessage() {
        let text = "Command: cat a\nOutput: b\nfilepaths"
        #expect(filepathExtractionRequest(request([message(.assistant, text)])) == nil)
        #expect(filepathExtractionRequest(request([message(.user, text), message(.user, text)])) == nil)
    }
}
