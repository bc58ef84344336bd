import Testing

@testable import AnthropicAPI

@Suite struct FieldPathTests {
    @Test func partsBeyondTheInlineFourAreKeptInOrder() {
        var path = FieldPath(parts: [])
        #expect(path.error("r").location == "body")
        path = path.appending("messages").appending(index: 12).appending("content").appending(index: 0)
        #expect(path.error("r").location == "messages.12.content.0")
        let deep = path.appending("input").appending(index: 3).appending("x")
        #expect(deep.error("Field required").message == "messages.12.content.0.input.3.x: Field required")
        // Appending makes a new path: the one it came from is unchanged.
        #expect(path.parts == ["messages", "12", "content", "0"])
        #expect(FieldPath(parts: ["a", "b", "c", "d", "e"]).appending(index: -1).parts == ["a", "b", "c", "d", "e", "-1"])
    }
}
