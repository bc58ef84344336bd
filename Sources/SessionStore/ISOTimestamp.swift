/// What `datetime.fromisoformat(text)` yields, reduced to what
/// `cleanup_old_trees` can use: the reference subtracts the parsed value from an
/// aware "now", so a naive timestamp raises there and the tree is skipped just
/// like an unparsable one. Keeping the two apart lets tests check the parser.
public enum ISOTimestamp: Sendable, Equatable {
    case invalid
    /// Parsed but without a UTC offset.
    case naive
    case aware(UTCTime)

    /// Parses the ISO 8601 forms Python 3.11+ `datetime.fromisoformat` accepts:
    /// calendar dates `YYYY-MM-DD` / `YYYYMMDD`, week dates `YYYY-Www[-D]` /
    /// `YYYYWww[D]`, then any one separator character and a time `HH[:MM[:SS]]`
    /// or `HH[MM[SS]]` with an optional `.`/`,` fraction after the seconds
    /// (digits past the sixth are dropped), then `Z` or `±HH[:MM[:SS[.ffffff]]]`
    /// (also without colons), strictly less than 24 hours.
    public static func parse(_ text: String) -> ISOTimestamp {
        let s = Array(text.utf8)
        guard let (date, dateLength) = parseDate(s) else { return .invalid }
        if dateLength == s.count {
            return .naive
        }
        // Any single character separates date and time; the time must follow.
        // (Python also takes a non-ASCII separator; that never occurs in practice.)
        guard s.count > dateLength + 1, s[dateLength] < 0x80 else { return .invalid }
        var rest = Array(s[(dateLength + 1)...])

        var offsetMicros: Int64? = nil
        if let zoneStart = rest.firstIndex(where: { $0 == UInt8(ascii: "Z") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }) {
            let zone = Array(rest[zoneStart...])
            rest = Array(rest[..<zoneStart])
            if zone == [UInt8(ascii: "Z")] {
                offsetMicros = 0
            } else if zone[0] == UInt8(ascii: "Z") {
                return .invalid
            } else {
                guard let (h, m, sec, micro) = parseClock(Array(zone[1...])),
                      h < 24, m < 60, sec < 60
                else { return .invalid }
                let magnitude = Int64(((h * 60 + m) * 60 + sec)) * 1_000_000 + Int64(micro)
                guard magnitude < 86_400_000_000 else { return .invalid }
                offsetMicros = zone[0] == UInt8(ascii: "-") ? -magnitude : magnitude
            }
        }
        guard let (hour, minute, second, micro) = parseClock(rest),
              hour < 24, minute < 60, second < 60,
              let local = UTCTime(year: date.0, month: date.1, day: date.2, hour: hour, minute: minute,
                                  second: second, microsecond: micro)
        else { return .invalid }
        guard let offsetMicros else { return .naive }
        return .aware(UTCTime(microsecondsSinceEpoch: local.microsecondsSinceEpoch - offsetMicros))
    }

    private static func digits(_ s: [UInt8], _ start: Int, _ count: Int) -> Int? {
        guard start >= 0, start + count <= s.count else { return nil }
        var value = 0
        for b in s[start..<(start + count)] {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(b - UInt8(ascii: "0"))
        }
        return value
    }

    /// The date and how many bytes it took.
    private static func parseDate(_ s: [UInt8]) -> ((Int, Int, Int), Int)? {
        guard let year = digits(s, 0, 4), s.count >= 7 else { return nil }
        let dash = UInt8(ascii: "-"), w = UInt8(ascii: "W")
        if s[4] == dash {
            if s[5] == w {
                guard let week = digits(s, 6, 2) else { return nil }
                if s.count > 8 && s[8] == dash {
                    guard let day = digits(s, 9, 1), let date = weekDate(year, week, day) else { return nil }
                    return (date, 10)
                }
                guard let date = weekDate(year, week, 1) else { return nil }
                return (date, 8)
            }
            guard s.count >= 10, s[7] == dash, let month = digits(s, 5, 2), let day = digits(s, 8, 2),
                  (1...12).contains(month), (1...Calendar.daysInMonth(year: year, month: month)).contains(day)
            else { return nil }
            return ((year, month, day), 10)
        }
        if s[4] == w {
            guard let week = digits(s, 5, 2) else { return nil }
            if s.count > 7, let day = digits(s, 7, 1) {
                guard let date = weekDate(year, week, day) else { return nil }
                return (date, 8)
            }
            guard let date = weekDate(year, week, 1) else { return nil }
            return (date, 7)
        }
        guard let month = digits(s, 4, 2), let day = digits(s, 6, 2),
              (1...12).contains(month), (1...Calendar.daysInMonth(year: year, month: month)).contains(day)
        else { return nil }
        return ((year, month, day), 8)
    }

    private static func weekDate(_ year: Int, _ week: Int, _ day: Int) -> (Int, Int, Int)? {
        guard year >= 1, (1...7).contains(day), week >= 1 else { return nil }
        let jan1 = Calendar.daysFromEpoch(year: year, month: 1, day: 1)
        let jan1Weekday = Calendar.weekday(daysFromEpoch: jan1)
        // A year has 53 ISO weeks when it starts on a Thursday, or on a Wednesday in a leap year.
        let weeks = (jan1Weekday == 3 || (jan1Weekday == 2 && Calendar.isLeap(year))) ? 53 : 52
        guard week <= weeks else { return nil }
        let jan4 = jan1 + 3
        let week1Monday = jan4 - Calendar.weekday(daysFromEpoch: jan4)
        let (y, m, d) = Calendar.civilFromDays(week1Monday + (week - 1) * 7 + (day - 1))
        guard (1...9999).contains(y) else { return nil }
        return (y, m, d)
    }

    /// `HH`, `HH:MM`, `HH:MM:SS[.f]`, `HHMM`, `HHMMSS[.f]`.
    private static func parseClock(_ s: [UInt8]) -> (Int, Int, Int, Int)? {
        var body = s
        var micro = 0
        if let point = s.firstIndex(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ",") }) {
            let fraction = s[(point + 1)...]
            guard !fraction.isEmpty, fraction.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
            else { return nil }
            var scale = 100_000
            for b in fraction.prefix(6) {
                micro += Int(b - UInt8(ascii: "0")) * scale
                scale /= 10
            }
            body = Array(s[..<point])
            // A fraction only follows seconds.
            guard body.count == 8 || body.count == 6 else { return nil }
        }
        let colon = UInt8(ascii: ":")
        switch body.count {
        case 2:
            guard let h = digits(body, 0, 2) else { return nil }
            return (h, 0, 0, micro)
        case 4:
            guard let h = digits(body, 0, 2), let m = digits(body, 2, 2) else { return nil }
            return (h, m, 0, micro)
        case 5:
            guard body[2] == colon, let h = digits(body, 0, 2), let m = digits(body, 3, 2) else { return nil }
            return (h, m, 0, micro)
        case 6:
            guard let h = digits(body, 0, 2), let m = digits(body, 2, 2), let sec = digits(body, 4, 2) else { return nil }
            return (h, m, sec, micro)
        case 8:
            guard body[2] == colon, body[5] == colon, let h = digits(body, 0, 2), let m = digits(body, 3, 2),
                  let sec = digits(body, 6, 2)
            else { return nil }
            return (h, m, sec, micro)
        default:
            return nil
        }
    }
}
