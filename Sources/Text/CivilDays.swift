/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (the one Python's
/// `datetime` and HTTP dates use), after Howard Hinnant's `days_from_civil`: counted in
/// 400-year eras of 146097 days, with years starting in March so the leap day falls at a
/// year's end. `month` is 1...12; a day past the month's end runs on into the next, as
/// `timegm` does. No overflow for any year within a few million of now.
public func daysSince1970(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let monthFromMarch = (month + 9) % 12
    let dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    // 719468 days lie between 0000-03-01 and 1970-01-01.
    return era * 146_097 + dayOfEra - 719_468
}
