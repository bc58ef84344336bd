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

    @Test func idsCarryTheirPrefixAndTheUUIDVersionAndVariant() {
        for prefix in ["toolu_", "", "\u{e9}t\u{e9}_"] {
            let id = MessageID.make(prefix: prefix)
            #expect(id.hasPrefix(prefix))
            let groups = id.dropFirst(prefix.count).split(separator: "-")
            #expect(groups.map(\.count) == [8, 4, 4, 4, 12], "\(id)")
            #expect(groups[2].first == "4")
            #expect(groups[3].first.map { "89ab".contains($0) } == true, "\(id)")
        }
    }
}
