import AnthropicAPI
import JSON
import TestSupport
import Testing

@testable import LocalAnswers

/// The body of a recorded request (the fixtures keep method, path and headers beside it).
func recordedBody(_ name: String) throws -> JSONObject {
    let recording = try JSONValue.parse(try Fixture.bytes("claude-cli-2.1.337-interactive/" + name, in: .shared))
    return try #require(recording["body"]?.objectValue)
}

func recordedRequest(_ name: String) throws -> MessagesRequest {
    try MessagesRequest.decode(.object(try recordedBody(name)), routing: ModelRouting(default: "target"))
}

/// The recorded title request with another session text.
func titleRequest(session: String) throws -> MessagesRequest {
    var body = try recordedBody("session-title.json")
    body["messages"] = [["role": "user", "content": [["type": "text", "text": .string("<session>\n\(session)\n</session>\n\nWrite the title in the predominant language of the session.")]]]]
    return try MessagesRequest.decode(.object(body), routing: ModelRouting(default: "target"))
}

@Suite struct SessionTitleDetectionTests {
    @Test func recordedTitleRequestIsDetected() throws {
        let request = try recordedRequest("session-title.json")
        #expect(sessionTitleRequest(request)?.pythonStripped() == "SCENARIO:text say hi to me please")
    }

    @Test func recordedMainLoopRequestIsNot() throws {
        #expect(sessionTitleRequest(try recordedRequest("main-loop-first-turn.json")) == nil)
        #expect(answerLocally(try recordedRequest("main-loop-first-turn.json"), switches: LocalAnswerSwitches()) == nil)
    }

    @Test func withoutTheSchemaTitleItIsNot() throws {
        var body = try recordedBody("session-title.json")
        body["output_config"] = ["effort": "medium"]
        let request = try MessagesRequest.decode(.object(body), routing: ModelRouting(default: "target"))
        #expect(sessionTitleRequest(request) == nil)
    }

    @Test func withoutThePromptItIsNot() throws {
        var body = try recordedBody("session-title.json")
        body["system"] = "You are Claude Code. <session>x</session>"
        let request = try MessagesRequest.decode(.object(body), routing: ModelRouting(default: "target"))
        #expect(sessionTitleRequest(request) == nil)
    }

    @Test func withToolsItIsNot() throws {
        var body = try recordedBody("session-title.json")
        body["tools"] = [["name": "Bash", "input_schema": ["type": "object"]]]
        let request = try MessagesRequest.decode(.object(body), routing: ModelRouting(default: "target"))
        #expect(sessionTitleRequest(request) == nil)
    }

    @Test func answeredAsTheSchemaAsksWithUsageMeasured() throws {
        let request = try recordedRequest("session-title.json")
        let answer = try #require(
            answerLocally(request, switches: LocalAnswerSwitches(), measure: { _, text in (1234, text.count) }, makeID: { "msg_1" }))
        #expect(answer.kind == .sessionTitle)
        guard case .text(let text) = answer.response.content.first else { Issue.record("no text"); return }
        let parsed = try JSONValue.parse(Array(text.utf8))
        #expect(parsed.objectValue?.keys == ["title"])
        #expect(parsed["title"] == .string(makeSessionTitle("SCENARIO:text say hi to me please")))
        #expect(answer.response.usage.inputTokens == 1234)
        #expect(answer.response.usage.outputTokens == text.count)
    }

    @Test func switchedOffItGoesUpstream() throws {
        var switches = LocalAnswerSwitches()
        switches.titleSkip = false
        #expect(answerLocally(try recordedRequest("session-title.json"), switches: switches) == nil)
    }
}

@Suite struct SessionTitleTests {
    @Test(arguments: [
        // Files lead, by their name rather than their path; request verbs go.
        ("fix the crash in Sources/App/Router.swift when the path is empty", "Router.swift crash path empty"),
        ("Please add tests for parser.py", "parser.py tests"),
        ("refactor `parseHeaders()` so it handles folded lines", "parseHeaders handles folded lines"),
        ("investigate why read_config returns None on Windows", "read_config returns None Windows"),
        // Issue and pull-request numbers, from a URL too.
        ("check #1234 again please", "Issue #1234"),
        ("https://github.com/acme/widgets/issues/42", "widgets #42"),
        ("look into https://github.com/acme/widgets/pull/7 and tell me what is wrong", "widgets #7 wrong"),
        // Questions keep their topic.
        ("How does the rate limiter decide when to wake up?", "Rate limiter decide wake"),
        ("what is a monad", "Monad session"),
        // Acronyms, proper nouns and identifiers stay as written.
        ("Debug the HTTP/2 upgrade with Redis", "HTTP/2 upgrade Redis"),
        ("implement OAuth login for the admin panel", "OAuth login admin panel"),
        // Other languages keep their words.
        ("Corrige le bug dans la page de connexion", "Bug page connexion"),
        ("Behebe den Fehler beim Speichern der Datei", "Fehler Speichern Datei"),
        ("ログイン画面のバグを直してください", "ログイン画面のバグ"),
        ("修复登录页面的错误", "登录页面的错误"),
        ("config.yaml の読み込みを修正して", "config.yaml 読み込み"),
        // Nothing to name.
        ("", "New session"),
        ("   \n  ", "New session"),
        ("SCENARIO:text say hi to me please", "Scenario:text say"),
    ])
    func title(session: String, expected: String) {
        #expect(makeSessionTitle(session) == expected)
    }

    /// Every title is two to five words (scripts without spaces aside) with no request verb first.
    @Test(arguments: [
        "fix it", "add", "help", "please check", "Update README.md", "refactor the whole module into smaller files with tests",
        "a b c d e f g h i j", "x", "??", "```swift\nfunc main() {}\n```", "TypeError: cannot read property 'x' of undefined",
        "Traceback (most recent call last):\n  File \"app.py\", line 3", "¿Puedes arreglar el inicio de sesión?",
        "Исправь ошибку в модуле авторизации", "로그인 버그 수정해줘",
    ])
    func shape(session: String) {
        let title = makeSessionTitle(session)
        let words = title.split(separator: " ")
        #expect((1...5).contains(words.count), "\(title)")
        #expect(!title.isEmpty)
        let first = words.first.map { $0.lowercased() } ?? ""
        #expect(!["fix", "add", "check", "investigate", "implement", "debug", "refactor", "update", "help"].contains(first), "\(title)")
    }

    @Test func hugeSessionIsReadOnlyAtItsStart() {
        let session = "Speed up tokenizer.swift\n" + String(repeating: "lorem ipsum dolor sit amet ", count: 200_000)
        #expect(makeSessionTitle(session) == "tokenizer.swift speed")
    }
}
