import Text

/// A `Retry-After` header value as seconds from `now` (seconds since 1970): a number of
/// seconds, or an HTTP date in any of the three forms RFC 9110 §5.6.7 says a recipient must
/// accept (`Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT`,
/// `Sun Nov  6 08:49:37 1994`). Nil for anything else, negative numbers included.
///
/// The header comes from the upstream, so nothing here may trap: every number is read with a
/// bound, and a date too far ahead to represent comes back as a huge but finite delay (the
/// caller caps it), never as an overflow.
public func parseRetryAfter(_ value: String, now: Int) -> Double? {
    let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" })
    if words.count == 1, let seconds = delaySeconds(words[0]) { return seconds }
    guard let when = httpDate(words, now: now) else { return nil }
    return max(0, Double(when) - Double(now))
}

/// RFC 9110 allows only digits; a decimal or an exponent (`2.5`, `1e300`) is read too,
/// as other clients do, but not `inf`, `nan` or hexadecimal, which `Double.init` would take.
private func delaySeconds(_ text: Substring) -> Double? {
    guard text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x65 || $0 == 0x45 || $0 == 0x2B })
    else { return nil }
    guard let seconds = Double(text), seconds.isFinite else { return nil }
    return seconds
}

private let monthNames: [Substring] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

/// Seconds since 1970 of an HTTP date split at whitespace, or nil when it is not one.
private func httpDate(_ words: [Substring], now: Int) -> Int? {
    let date: (day: Int, month: Int, year: Int, clock: Substring)
    switch words.count {
    case 6:
        // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
        guard words[5] == "GMT", let d = number(words[1], maxDigits: 2), let m = monthNames.firstIndex(of: words[2]),
            let y = parseYear(words[3])
        else { return nil }
        date = (d, m, y, words[4])
    case 4:
        // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`. RFC 9110: a two-digit year more than 50
        // years ahead is the latest past year with those digits.
        let parts = words[1].split(separator: "-", omittingEmptySubsequences: false)
        guard words[3] == "GMT", parts.count == 3, let d = number(parts[0], maxDigits: 2),
            let m = monthNames.firstIndex(of: parts[1]), parts[2].count == 2, let yy = number(parts[2], maxDigits: 2)
        else { return nil }
        // The current year to within a day, from the mean Gregorian year of 31556952 s.
        let thisYear = 1970 + Int((Double(now) / 31_556_952).rounded(.down))
        var y = thisYear - thisYear % 100 + yy
        if y > thisYear + 50 { y -= 100 }
        date = (d, m, y, words[2])
    case 5:
        // asctime: `Sun Nov  6 08:49:37 1994`.
        guard let m = monthNames.firstIndex(of: words[1]), let d = number(words[2], maxDigits: 2), let y = parseYear(words[4])
        else { return nil }
        date = (d, m, y, words[3])
    default:
        return nil
    }
    let hms = date.clock.split(separator: ":", omittingEmptySubsequences: false)
    guard (1...31).contains(date.day), hms.count == 3, let h = number(hms[0], maxDigits: 2), let mi = number(hms[1], maxDigits: 2),
        let s = number(hms[2], maxDigits: 2), h < 24, mi < 60, s <= 60
    else { return nil }
    return daysSince1970(year: date.year, month: date.month + 1, day: date.day) * 86_400 + h * 3600 + mi * 60 + s
}

/// Up to `maxDigits` ASCII digits; nil for anything else (no sign, no overflow).
private func number(_ text: Substring, maxDigits: Int) -> Int? {
    guard !text.isEmpty, text.utf8.count <= maxDigits else { return nil }
    var value = 0
    for b in text.utf8 {
        guard b >= 0x30, b <= 0x39 else { return nil }
        value = value * 10 + Int(b - 0x30)
    }
    return value
}

/// The largest year read as such: its dates are already more than a century ahead, and its
/// seconds since 1970 still fit easily in an `Int`. Longer years are read as this one.
private let latestYear = 999_999

/// A four-digit (or longer) year; an absurdly long one saturates at `latestYear`.
private func parseYear(_ text: Substring) -> Int? {
    guard text.utf8.count >= 4, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    return number(text, maxDigits: 6) ?? latestYear
}
