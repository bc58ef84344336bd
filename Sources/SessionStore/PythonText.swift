import JSON

/// Python's `str()` and truthiness for JSON values. The reference stringifies
/// ids with `str(x)` (legacy integer chat ids become `"123"`, `True` becomes
/// `"True"`), and the HTTP layer uses the same rules for arguments the bot sends
/// as numbers.
public enum PythonText {
    /// The reference reads `MAX_MESSAGE_LOG_ENTRIES_PER_CHAT` with `int(raw.strip())`
    /// on every `record_message_id` and applies it when positive; anything `int()`
    /// rejects means no cap. This mirrors `int()` for decimal text: surrounding
    /// whitespace, an optional sign, and single underscores between digits.
    public static func messageLogCap(environmentValue raw: String?) -> Int? {
        guard let raw else { return nil }
        var text = Substring(raw)
        while let c = text.first, c.isWhitespace { text.removeFirst() }
        while let c = text.last, c.isWhitespace { text.removeLast() }
        var negative = false
        if let sign = text.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            text.removeFirst()
        }
        guard let first = text.first, first.isASCII, first.isNumber, let last = text.last, last != "_" else {
            return nil
        }
        var value = 0
        var previousUnderscore = false
        for c in text {
            if c == "_" {
                if previousUnderscore { return nil }
                previousUnderscore = true
                continue
            }
            guard c.isASCII, let digit = c.wholeNumberValue else { return nil }
            previousUnderscore = false
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(digit)
            // A cap beyond Int.max is as good as none.
            if o1 || o2 { return negative ? nil : Int.max }
            value = sum
        }
        return negative || value == 0 ? nil : value
    }
}
