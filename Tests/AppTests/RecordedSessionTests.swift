import AnthropicAPI
import JSON
import LocalAnswers
import TestSupport
import Testing

@testable import App

/// Every request interactive Claude Code sent in a recorded session (Tests/Fixtures/claude-cli-*-interactive),
/// each with the answer it must get, so a change of the CLI's wire format shows up here.
@Suite struct RecordedSessionTests {
    static let sessions = ["claude-cli-2.1.332-interactive", "claude-cli-2.1.337-interactive"]

    let endpoints = AnthropicEndpoints(
        routing: ModelRouting(default: "moonshotai/kimi-k2-thinking"), switches: LocalAnswerSwitches(),
        countTokens: { _, _, _ in 4321 }, countTextTokens: { $0.utf8.count }, makeMessageID: { "msg_test" })

    func recording(_ session: String, _ name: String) throws -> JSONValue {
        try JSONValue.parse(try Fixture.bytes(session + "/" + name, in: .shared))
    }

    func body(_ recording: JSONValue) throws -> [UInt8] {
        try #require(recording["body"]).compactBytes()
    }

    @Test(arguments: sessions)
    func helloProbeIsAHeadOfApiHello(session: String) throws {
        let r = try recording(session, "api-hello-probe.json")
        #expect(r["method"] == "HEAD")
        #expect(r["path"] == "/api/hello")
        guard case .json(let status, _) = endpoints.hello() else { Issue.record("not JSON"); return }
        #expect(status == 200)
    }

    @Test(arguments: sessions)
    func sessionTitleIsAnsweredLocallyAsAStream(session: String) throws {
        let r = try recording(session, "session-title.json")
        #expect(r["body"]?["stream"] == true)
        guard case .answeredLocally(let response, let kind, let stream) = endpoints.messages(body: try body(r)) else {
            Issue.record("the session-title request was not answered locally")
            return
        }
        #expect(kind == .sessionTitle)
        #expect(stream)
        #expect(response.usage.inputTokens == 4321)
        guard case .text(let text) = response.content.first else { Issue.record("no text"); return }
        let title = try JSONValue.parse(Array(text.utf8))["title"]?.stringValue ?? ""
        #expect((1...5).contains(title.split(separator: " ").count), "\(title)")
        let events = String(decoding: localAnswerEvents(response), as: UTF8.self)
        #expect(events.hasPrefix("event: message_start\n"))
        #expect(events.hasSuffix("event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n"))
    }

    @Test(arguments: sessions)
    func mainLoopTurnGoesUpstreamWithItsTools(session: String) throws {
        let r = try recording(session, "main-loop-first-turn.json")
        guard case .stream(let request, let tokens) = endpoints.messages(body: try body(r)) else {
            Issue.record("the main-loop request did not go upstream")
            return
        }
        #expect(tokens == 4321)
        #expect(request.model == "moonshotai/kimi-k2-thinking")
        #expect((request.tools?.count ?? 0) >= 10)
        #expect(request.serverTools.isEmpty)
        #expect(request.stream == true)
    }
}
