/// Concatenated text of a message's content: the string itself, or the `text` of its
/// text blocks in order (other blocks contribute nothing), as the reference's
/// `extract_text_from_content` does.
public func extractText(from content: MessageContent) -> String {
    switch content {
    case .text(let s):
        return s
    case .blocks(let blocks):
        var out = ""
        for case .text(let b) in blocks { out += b.text }
        return out
    }
}
