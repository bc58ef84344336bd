/// Splits streamed text into thinking and plain text at `<think>` / `</think>`
/// tags, whichever chunk boundary the tags straddle.
///
/// Matches the reference: an orphan `</think>` outside a think section is dropped
/// (some models send their reasoning in `reasoning_content` and still leak the
/// closing tag), and a trailing `<`... that could still become a tag is held back
/// until the next chunk or `flush()`. Each piece of text between tags comes out as
/// its own segment, because the translator turns each into its own delta event.
public struct ThinkTagParser: Sendable {
    public enum Kind: Sendable, Equatable { case text, thinking }

    public struct Segment: Sendable, Equatable {
        public var kind: Kind
        public var content: String
        public init(_ kind: Kind, _ content: String) {
            self.kind = kind
            self.content = content
        }
    }

    private static let openTag = Scalars("<think>")
    private static let closeTag = Scalars("</think>")

    private var buffer: Scalars = []
    public private(set) var isInsideThink = false

    public init() {}

    public mutating func feed(_ text: String) -> [Segment] {
        // Most chunks hold no tag at all: with nothing held back and no `<`, the whole
        // chunk belongs to the current section as is.
        if buffer.isEmpty, !utf8Contains(text, UInt8(ascii: "<")) {
            return text.isEmpty ? [] : [Segment(isInsideThink ? .thinking : .text, text)]
        }
        buffer.append(contentsOf: text.unicodeScalars)
        var out: [Segment] = []
        while !buffer.isEmpty {
            let progressed = isInsideThink ? stepInside(&out) : stepOutside(&out)
            if !progressed { break }
        }
        return out
    }

    /// Whatever is still held back, as the kind of section it was in.
    public mutating func flush() -> Segment? {
        guard !buffer.isEmpty else { return nil }
        defer { buffer.removeAll() }
        return Segment(isInsideThink ? .thinking : .text, buffer.string)
    }

    /// One step outside a think section; false when the rest must wait for more input.
    private mutating func stepOutside(_ out: inout [Segment]) -> Bool {
        let open = buffer.firstIndex(of: Self.openTag)
        if let close = buffer.firstIndex(of: Self.closeTag), open == nil || close < open! {
            emit(.text, upTo: close, skipping: Self.closeTag.count, into: &out)
            return true
        }
        if let open {
            emit(.text, upTo: open, skipping: Self.openTag.count, into: &out)
            isInsideThink = true
            return true
        }
        // Only the last `<` can start a tag that the next chunk completes.
        if let lt = buffer.lastIndex(of: ["<"]) {
            let tail = buffer[lt...]
            let couldOpen = tail.count < Self.openTag.count && Self.openTag.starts(with: tail)
            let couldClose = tail.count < Self.closeTag.count && Self.closeTag.starts(with: tail)
            if couldOpen || couldClose {
                if lt > 0 { emit(.text, upTo: lt, skipping: 0, into: &out) }
                return false
            }
        }
        emit(.text, upTo: buffer.count, skipping: 0, into: &out)
        return false
    }

    private mutating func stepInside(_ out: inout [Segment]) -> Bool {
        if let close = buffer.firstIndex(of: Self.closeTag) {
            emit(.thinking, upTo: close, skipping: Self.closeTag.count, into: &out)
            isInsideThink = false
            return true
        }
        if let lt = buffer.lastIndex(of: ["<"]), buffer.count - lt < Self.closeTag.count,
            Self.closeTag.starts(with: buffer[lt...])
        {
            if lt > 0 { emit(.thinking, upTo: lt, skipping: 0, into: &out) }
            return false
        }
        emit(.thinking, upTo: buffer.count, skipping: 0, into: &out)
        return false
    }

    /// Emits `buffer[..<end]` when non-empty and drops it plus `skip` more scalars.
    private mutating func emit(_ kind: Kind, upTo end: Int, skipping skip: Int, into out: inout [Segment]) {
        if end > 0 { out.append(Segment(kind, Array(buffer[..<end]).string)) }
        buffer.removeFirst(end + skip)
    }
}

/// Whether `text`'s UTF-8 holds `byte`: over the contiguous bytes of a native string, which is
/// several times cheaper per byte than `text.utf8.contains`'s generic iteration.
@inline(__always)
func utf8Contains(_ text: String, _ byte: UInt8) -> Bool {
    text.utf8.withContiguousStorageIfAvailable { $0.contains(byte) } ?? text.utf8.contains(byte)
}
