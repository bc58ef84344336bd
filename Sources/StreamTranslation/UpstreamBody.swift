import JSON

/// The readable part of an upstream's error body: the message an OpenAI-compatible server
/// puts in its JSON, the title (or first text) of an HTML page, or the text itself, cut to a
/// length a person reads in one glance. Error bodies reach 64 KB (a proxy's error page, a
/// stack trace); the client needs a sentence, not the page.
struct UpstreamBody {
    /// The most characters shown of any body.
    static let maxShownScalars = 500

    /// The message to show; nil for an empty body.
    let text: String?
    /// A JSON error's `code` (OpenAI's `context_length_exceeded`), as text.
    let code: String?

    init(_ body: String, contentType: String?) {
        let bytes = Array(body.utf8)
        let trimmed = bytes.trimmingASCIIWhitespace()
        if trimmed.isEmpty {
            text = nil
            code = nil
            return
        }
        if let json = try? JSONValue.parse(Array(trimmed)) {
            let found = Self.message(inJSON: json)
            text = Self.shortened(Self.collapsingWhitespace(found.message ?? json.compactString()))
            code = found.code
            return
        }
        code = nil
        let lowerType = contentType.map { Array($0.utf8).asciiLowercased() } ?? []
        if lowerType.contains(subsequence: Array("html".utf8)) || trimmed.first == UInt8(ascii: "<") {
            text = HTMLSummary.summary(of: Array(trimmed))
        } else {
            text = Self.shortened(Self.collapsingWhitespace(String(decoding: trimmed, as: UTF8.self)))
        }
    }

    /// Where OpenAI-compatible servers put their message: `{"error": {"message": ...}}`
    /// (OpenAI, vLLM's newer servers, OpenRouter with the provider's own text in
    /// `metadata.raw`), `{"error": "..."}`, `{"detail": ...}` (FastAPI, NVIDIA's problem
    /// details, with `title` beside it), `{"message": ...}` (vLLM's `{"object": "error"}`).
    static func message(inJSON json: JSONValue) -> (message: String?, code: String?) {
        var value = json
        if case .array(let items) = json, let first = items.first { value = first }
        guard case .object(let object) = value else { return (nil, nil) }
        var code = codeText(object["code"])
        if case .object(let error)? = object["error"] {
            code = codeText(error["code"]) ?? code
            if var message = nonEmpty(error["message"]) {
                if let raw = nonEmpty(error["metadata"]?["raw"]), raw != message { message += ": \(raw)" }
                return (message, code)
            }
        }
        if let message = nonEmpty(object["error"]) { return (message, code) }
        switch object["detail"] {
        case .string(let detail)? where !detail.isEmpty: return (detail, code)
        case .array(let items)?:
            // FastAPI's validation errors: a list of `{"loc": ..., "msg": ...}`.
            let messages = items.compactMap { nonEmpty($0["msg"]) }
            if !messages.isEmpty { return (messages.joined(separator: "; "), code) }
        case .object(let detail)?:
            if let message = nonEmpty(detail["message"]) { return (message, code) }
        default: break
        }
        if let message = nonEmpty(object["message"]) { return (message, code) }
        if let title = nonEmpty(object["title"]) { return (title, code) }
        return (nil, code)
    }

    private static func nonEmpty(_ value: JSONValue?) -> String? {
        guard let s = value?.stringValue, !s.isEmpty else { return nil }
        return s
    }

    private static func codeText(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s)?: s
        case .int(let i)?: String(i)
        default: nil
        }
    }

    /// Runs of whitespace (newlines of a traceback, an HTML page's indentation) as one space.
    static func collapsingWhitespace(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace { out.append(" ") }
            pendingSpace = false
            out.append(scalar)
        }
        return String(out)
    }

    static func shortened(_ text: String, to limit: Int = maxShownScalars) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > limit else { return text }
        var kept = String.UnicodeScalarView(scalars.prefix(limit))
        while let last = kept.last, last.properties.isWhitespace { kept.removeLast() }
        return String(kept) + "..."
    }
}

/// A short readable summary of an HTML error page: its `<title>`, else its first text.
enum HTMLSummary {
    /// The title's or the first text's characters kept.
    static let maxScalars = 200

    static func summary(of html: [UInt8]) -> String? {
        let lower = html.asciiLowercased()
        if let open = lower[...].firstOccurrence(of: Array("<title".utf8)),
            let tagEnd = lower[open.upperBound...].firstIndex(of: UInt8(ascii: ">"))
        {
            let contentStart = tagEnd + 1
            let close = lower[contentStart...].firstOccurrence(of: Array("</title".utf8))?.lowerBound ?? lower.endIndex
            let title = readable(html[contentStart..<close])
            if !title.isEmpty { return title }
        }
        let body = visibleText(html, lower: lower)
        let text = readable(body[...])
        return text.isEmpty ? nil : text
    }

    /// The page without tags, comments, scripts and styles.
    private static func visibleText(_ html: [UInt8], lower: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < html.count {
            guard html[i] == UInt8(ascii: "<") else {
                out.append(html[i])
                i += 1
                continue
            }
            let rest = lower[i...]
            let skipUntil: [UInt8]
            if rest.starts(with: Array("<!--".utf8)) {
                skipUntil = Array("-->".utf8)
            } else if rest.starts(with: Array("<script".utf8)) {
                skipUntil = Array("</script>".utf8)
            } else if rest.starts(with: Array("<style".utf8)) {
                skipUntil = Array("</style>".utf8)
            } else {
                skipUntil = Array(">".utf8)
            }
            guard let end = lower[(i + 1)...].firstOccurrence(of: skipUntil) else { break }
            // A tag separates words (`<td>a</td><td>b</td>`).
            out.append(UInt8(ascii: " "))
            i = end.upperBound
        }
        return out
    }

    /// Entities decoded, whitespace collapsed, cut to `maxScalars`.
    private static func readable(_ bytes: ArraySlice<UInt8>) -> String {
        let text = UpstreamBody.collapsingWhitespace(decodingEntities(String(decoding: bytes, as: UTF8.self)))
        return UpstreamBody.shortened(text, to: maxScalars)
    }

    private static let namedEntities: [Substring: Unicode.Scalar] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "mdash": "\u{2014}",
        "ndash": "\u{2013}", "hellip": "\u{2026}",
    ]

    /// The entities error pages use; an unknown one is left as written.
    static func decodingEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let afterAmp = rest.index(after: amp)
            guard let semicolon = rest[afterAmp...].prefix(12).firstIndex(of: ";") else {
                out += "&"
                rest = rest[afterAmp...]
                continue
            }
            let name = rest[afterAmp..<semicolon]
            var decoded: Unicode.Scalar?
            if name.hasPrefix("#x") || name.hasPrefix("#X") {
                decoded = UInt32(name.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
            } else if name.hasPrefix("#") {
                decoded = UInt32(name.dropFirst(), radix: 10).flatMap(Unicode.Scalar.init)
            } else {
                decoded = namedEntities[name]
            }
            if let decoded {
                out.unicodeScalars.append(decoded)
                rest = rest[rest.index(after: semicolon)...]
            } else {
                out += "&"
                rest = rest[afterAmp...]
            }
        }
        out += rest
        return out
    }
}

extension Array where Element == UInt8 {
    /// ASCII letters lowered, every other byte kept, so offsets match the original.
    func asciiLowercased() -> [UInt8] {
        map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 | 0x20 : $0 }
    }

    func trimmingASCIIWhitespace() -> ArraySlice<UInt8> {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || (0x09...0x0D).contains($0) }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return []
        }
        return self[first...last]
    }

    func contains(subsequence: [UInt8]) -> Bool { self[...].firstOccurrence(of: subsequence) != nil }
}

extension ArraySlice where Element == UInt8 {
    func asciiLowercased() -> [UInt8] { Array(self).asciiLowercased() }

    func trimmingASCIIWhitespace() -> ArraySlice<UInt8> {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || (0x09...0x0D).contains($0) }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return []
        }
        return self[first...last]
    }

    /// The first occurrence of `needle`; the offsets are the array's own.
    func firstOccurrence(of needle: [UInt8]) -> Range<Int>? {
        guard !needle.isEmpty, needle.count <= count else { return nil }
        var i = startIndex
        let last = endIndex - needle.count
        while i <= last {
            if self[i] == needle[0] {
                var j = 1
                while j < needle.count, self[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i..<(i + needle.count) }
            }
            i += 1
        }
        return nil
    }
}
