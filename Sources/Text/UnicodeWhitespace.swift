extension StringProtocol {
    /// Both ends trimmed of Unicode White_Space scalars (`Unicode.Scalar.Properties.isWhitespace`).
    /// Unlike Python's `strip()` (`pythonStripped()`) it keeps the information separators
    /// U+001C to U+001F: for text that follows no Python rule (settings values, tool output).
    public func trimmingUnicodeWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        var trimmed = String.UnicodeScalarView()
        trimmed.append(contentsOf: scalars[first...last])
        return String(trimmed)
    }
}
