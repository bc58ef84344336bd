import AnthropicAPI
import Testing

@Suite struct MessageIDTests {
    @Test func idsAreUUIDShapedAndDistinct() {
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = MessageID.make()
            #expect(id.hasPrefix("msg_"))
            let uuid = id.dropFirst(4)
            let groups = uuid.split(separator: "-").map(\.count)
            #expect(groups == [8, 4, 4, 4, 12])
            #expect(uuid.allSatisfy { $0 == "-" || $0.isHexDigit && !$0.isUppercase })
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
    }
}
