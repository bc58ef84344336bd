import Text

/// A wall-clock instant in UTC with microsecond resolution (Python's `datetime`
/// resolution). The store never reads a clock: callers pass the current time in,
/// so tests can pin it and the loop owns the one clock read.
public struct UTCTime: Sendable, Hashable, Comparable {
    public var microsecondsSinceEpoch: Int64

    public init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    public init(secondsSinceEpoch: Int64, microseconds: Int64 = 0) {
        self.microsecondsSinceEpoch = secondsSinceEpoch * 1_000_000 + microseconds
    }

    /// Midnight-based civil time; nil outside Python's `datetime` range (years 1...9999).
    public init?(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0,
                 microsecond: Int = 0) {
        guard (1...9999).contains(year), (1...12).contains(month),
              (1...Calendar.daysInMonth(year: year, month: month)).contains(day),
              (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second),
              (0...999_999).contains(microsecond)
        else { return nil }
        let days = Int64(Calendar.daysFromEpoch(year: year, month: month, day: day))
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        self.microsecondsSinceEpoch = seconds * 1_000_000 + Int64(microsecond)
    }

    public static func < (lhs: UTCTime, rhs: UTCTime) -> Bool {
        lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
    }

    struct Civil {
        var year, month, day, hour, minute, second, microsecond: Int
    }

    var civil: Civil {
        let micros = microsecondsSinceEpoch
        let (days, dayMicros) = floorDivMod(micros, 86_400_000_000)
        let (y, m, d) = Calendar.civilFromDays(Int(days))
        let secondsOfDay = Int(dayMicros / 1_000_000)
        return Civil(year: y, month: m, day: d, hour: secondsOfDay / 3600, minute: secondsOfDay / 60 % 60,
                     second: secondsOfDay % 60, microsecond: Int(dayMicros % 1_000_000))
    }

    /// Python's `datetime.now(timezone.utc).isoformat()`: `YYYY-MM-DDTHH:MM:SS`,
    /// then `.ffffff` only when the microseconds are not zero, then `+00:00`.
    public var isoformat: String {
        let c = civil
        var text = "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2))"
        if c.microsecond != 0 { text += ".\(pad(c.microsecond, 6))" }
        return text + "+00:00"
    }

    /// `YYYYMMDDTHHMMSSZ`: a UTC stamp that is safe in a file name (no colons).
    public var compactStamp: String {
        let c = civil
        return "\(pad(c.year, 4))\(pad(c.month, 2))\(pad(c.day, 2))T\(pad(c.hour, 2))\(pad(c.minute, 2))\(pad(c.second, 2))Z"
    }

    /// Whole days from `earlier` to `self`, rounded toward minus infinity, which
    /// is what Python's `timedelta.days` gives for `self - earlier`.
    public func wholeDays(since earlier: UTCTime) -> Int64 {
        floorDivMod(microsecondsSinceEpoch - earlier.microsecondsSinceEpoch, 86_400_000_000).quotient
    }
}

private func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

private func floorDivMod(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
    var q = a / b
    var r = a % b
    if r < 0 { q -= 1; r += b }
    return (q, r)
}

/// Proleptic Gregorian arithmetic (the calendar Python's `datetime` uses),
/// after Howard Hinnant's `days_from_civil` / `civil_from_days`.
enum Calendar {
    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func daysFromEpoch(year: Int, month: Int, day: Int) -> Int {
        daysSince1970(year: year, month: month, day: day)
    }

    static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// 0 = Monday ... 6 = Sunday (Python's `date.weekday()`).
    static func weekday(daysFromEpoch days: Int) -> Int {
        // 1970-01-01 was a Thursday.
        ((days + 3) % 7 + 7) % 7
    }
}
