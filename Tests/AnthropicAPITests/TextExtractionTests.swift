import JSON
import Testing

@testable import AnthropicAPI

@Suite struct ExtractTextTests {
    @Test(arguments: ["hello world", "", "   ", "日本語テスト"])
    func stringContentIsReturnedAsIs(text: String) {
        #expect(extractText(from: .text(text)) == text)
    }

    @Test func singleBlock() {
        #expect(extractText(from: .blocks([.text(TextBlock(text: "some text"))])) == "some text")
    }

    @Test func multipleBlocksConcatenate() {
        let content = MessageContent.blocks([.text(TextBlock(text: "hello ")), .text(TextBlock(text: "world"))])
        #expect(extractText(from: content) == "hello world")
    }

    @Test func blocksWithoutTextAreSkipped() {
        let content = MessageContent.blocks([
            .text(TextBlock(text: "hello")),
            .toolUse(ToolUseBlock(id: "t1", name: "Read", input: JSONObject())),
            .thinking(ThinkingBlock(thinking: "not text")),
            .toolResult(ToolResultBlock(toolUseId: "t1", content: "result text")),
            .other(OtherBlock(type: "document")),
        ])
        #expect(extractText(from: content) == "hello")
    }

    @Test func emptyTextBlocksContributeNothing() {
        let content = MessageContent.blocks([.text(TextBlock(text: "")), .text(TextBlock(text: "world"))])
        #expect(extractText(from: content) == "world")
    }

    @Test func emptyList() {
        #expect(extractText(from: .blocks([])) == "")
    }
}
