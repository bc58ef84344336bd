import Text

/// Why a setting's text was refused; the loader puts `KEY=value ` before it.
public struct SettingProblem: Error, Equatable, Sendable {
    public let text: String

    public init(_ text: String) { self.text = text }
}

/// How a setting's text becomes a typed value, and how the README states a value and what
/// is allowed. The problem texts are the ones users see at startup: keep them stable.
public struct SettingKind<Value: Sendable>: Sendable {
    public let parse: @Sendable (String) -> Result<Value, SettingProblem>
    /// The value as the README shows it.
    public let describe: @Sendable (Value) -> String
    /// What the README says is allowed.
    public let allowed: String

    public init(
        allowed: String, describe: @escaping @Sendable (Value) -> String,
        parse: @escaping @Sendable (String) -> Result<Value, SettingProblem>
    ) {
        self.allowed = allowed
        self.describe = describe
        self.parse = parse
    }

    /// The same text rules with another value type, e.g. a number of seconds as a `Duration`.
    func map<T: Sendable>(
        allowed: String? = nil, _ transform: @escaping @Sendable (Value) -> T,
        describe: @escaping @Sendable (T) -> String
    ) -> SettingKind<T> {
        let parse = self.parse
        return SettingKind<T>(allowed: allowed ?? self.allowed, describe: describe) { parse($0).map(transform) }
    }
}

private func code(_ text: String) -> String { "`\(text)`" }

extension SettingKind where Value == String {
    /// Any text, also empty.
    public static var text: Self {
        Self(allowed: "any text", describe: { $0.isEmpty ? "(empty)" : code($0) }) { .success($0) }
    }

    /// Text with something besides whitespace.
    public static var requiredText: Self {
        Self(allowed: "non-empty text", describe: code) { text in
            text.trimmingUnicodeWhitespace().isEmpty ? .failure(SettingProblem("is empty: a value is required")) : .success(text)
        }
    }

    /// An `http://` or `https://` URL with a host, kept without trailing slashes so paths can be
    /// appended as `/chat/completions`.
    public static var httpURL: Self {
        Self(allowed: "an http(s) URL", describe: code) { text in
            var url = text.trimmingUnicodeWhitespace()
            let lower = url.lowercased()
            let scheme = lower.hasPrefix("http://") ? 7 : lower.hasPrefix("https://") ? 8 : 0
            let host = url.dropFirst(scheme).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            guard scheme > 0, !host.isEmpty, !url.contains(where: \.isWhitespace) else {
                return .failure(SettingProblem("is not an http(s) URL: must look like https://integrate.api.nvidia.com/v1"))
            }
            while url.hasSuffix("/") { url.removeLast() }
            return .success(url)
        }
    }
}

extension SettingKind where Value == String {
    /// `httpURL`, or empty for unset: a provider's address, refused at startup only when a
    /// configured model needs it.
    public static var optionalHTTPURL: Self {
        let url = httpURL
        return Self(allowed: "an http(s) URL or empty", describe: { $0.isEmpty ? "(empty)" : code($0) }) { text in
            text.trimmingUnicodeWhitespace().isEmpty ? .success("") : url.parse(text)
        }
    }

    /// Ollama's address with or without its OpenAI-compatible `/v1` (its own docs show both),
    /// stored with it so every provider's base URL takes `/chat/completions` alike.
    public static var ollamaURL: Self {
        let url = optionalHTTPURL
        return Self(allowed: "an http(s) URL, with or without `/v1`, or empty", describe: url.describe) { text in
            url.parse(text).map { base in
                base.isEmpty || base.lowercased().hasSuffix("/v1") ? base : base + "/v1"
            }
        }
    }

    /// A model name, `provider/model` for a provider other than NIM; a misspelt provider
    /// prefix is refused with the spelling meant.
    public static var modelName: Self {
        let required = requiredText
        return Self(allowed: modelAllowed, describe: code) { text in
            required.parse(text).flatMap { name in ProviderModel.parseSetting(name).map { _ in name } }
        }
    }
}

let modelAllowed = "model name; `PROVIDER/model` for another provider"

extension SettingKind where Value == String? {
    /// Text where empty means unset, as the reference's `parse_optional_str` validators do.
    public static func optionalText(unset: String) -> Self {
        Self(allowed: "any text", describe: { $0.map(code) ?? unset }) { .success($0.isEmpty ? nil : $0) }
    }

    /// `modelName`, or empty for unset.
    public static func optionalModelName(unset: String) -> Self {
        Self(allowed: modelAllowed + "; or empty", describe: { $0.map(code) ?? unset }) { text in
            if text.isEmpty { return .success(nil) }
            return ProviderModel.parseSetting(text).map { _ in text }
        }
    }
}

extension SettingKind where Value == [String] {
    /// Comma-separated names, each trimmed; empty entries are dropped, so empty text is an empty list.
    public static func commaList(empty: String) -> Self {
        Self(allowed: "comma-separated names", describe: { $0.isEmpty ? empty : code($0.joined(separator: ",")) }) { text in
            .success(splitCommaList(text))
        }
    }

    /// Comma-separated model names, each checked as `modelName` is.
    public static func modelList(empty: String) -> Self {
        Self(allowed: "comma-separated model names", describe: { $0.isEmpty ? empty : code($0.joined(separator: ",")) }) {
            checkModels(splitCommaList($0))
        }
    }
}

private func checkModels(_ names: [String]) -> Result<[String], SettingProblem> {
    for name in names {
        if case .failure(let problem) = ProviderModel.parseSetting(name) {
            return .failure(SettingProblem("has the entry `\(name)`, which \(problem.text)"))
        }
    }
    return .success(names)
}

extension SettingKind where Value == [String]? {
    /// Comma-separated names; empty text (or only commas) means unset.
    public static func optionalCommaList(unset: String) -> Self {
        Self(allowed: "comma-separated names", describe: { $0.map { code($0.joined(separator: ",")) } ?? unset }) { text in
            let names = splitCommaList(text)
            return .success(names.isEmpty ? nil : names)
        }
    }

    /// Comma-separated model names, each checked as `modelName` is; empty text means unset.
    public static func optionalModelList(unset: String) -> Self {
        Self(allowed: "comma-separated model names", describe: { $0.map { code($0.joined(separator: ",")) } ?? unset }) {
            text in
            let names = splitCommaList(text)
            return names.isEmpty ? .success(nil) : checkModels(names).map { $0 }
        }
    }
}

private func splitCommaList(_ text: String) -> [String] {
    text.split(separator: ",", omittingEmptySubsequences: false)
        .map { String($0).trimmingUnicodeWhitespace() }
        .filter { !$0.isEmpty }
}

extension SettingKind where Value == Bool {
    /// pydantic's boolean words, any case, surrounding whitespace allowed.
    public static var bool: Self {
        Self(allowed: "`true`, `false`", describe: { code(String($0)) }) { text in
            if let value = boolWords[text.trimmingUnicodeWhitespace().lowercased()] { return .success(value) }
            return .failure(
                SettingProblem("is not a boolean: must be one of true, false, 1, 0, yes, no, on, off, t, f, y, n"))
        }
    }
}

private let boolWords: [String: Bool] = [
    "true": true, "1": true, "yes": true, "on": true, "t": true, "y": true,
    "false": false, "0": false, "no": false, "off": false, "f": false, "n": false,
]

private func rangeText<T: Comparable>(min: T?, max: T?) -> String {
    switch (min, max) {
    case let (lo?, hi?): "must be between \(lo) and \(hi)"
    case let (lo?, nil): "must be >= \(lo)"
    case let (nil, hi?): "must be <= \(hi)"
    case (nil, nil): "any value"
    }
}

/// "must be >= 1" becomes "integer >= 1" for the README's column.
private func allowedColumn(_ noun: String, _ range: String) -> String {
    noun + " " + (range.hasPrefix("must be ") ? String(range.dropFirst("must be ".count)) : range)
}

private func checkRange<T: Comparable>(_ value: T, min: T?, max: T?, _ allowed: String) -> Result<T, SettingProblem> {
    if let min, value < min { return .failure(SettingProblem("is out of range: \(allowed)")) }
    if let max, value > max { return .failure(SettingProblem("is out of range: \(allowed)")) }
    return .success(value)
}

extension SettingKind where Value == Int {
    /// A whole number; `rangeText` replaces the generated range sentence where that reads badly
    /// (top-k's "-1 or >= 0").
    public static func int(min: Int? = nil, max: Int? = nil, rangeText custom: String? = nil) -> Self {
        let allowed = custom ?? rangeText(min: min, max: max)
        return Self(allowed: allowedColumn("integer", allowed), describe: { code(String($0)) }) { text in
            guard let value = parseInt(text) else { return .failure(SettingProblem("is not an integer: \(allowed)")) }
            return checkRange(value, min: min, max: max, allowed)
        }
    }
}

extension SettingKind where Value == Int? {
    /// A whole number, or empty for unset.
    public static var optionalInt: Self {
        Self(allowed: "integer or empty", describe: { $0.map { code(String($0)) } ?? "(unset)" }) { text in
            if text.trimmingUnicodeWhitespace().isEmpty { return .success(nil) }
            guard let value = parseInt(text) else {
                return .failure(SettingProblem("is not an integer: must be a whole number or empty"))
            }
            return .success(value)
        }
    }
}

extension SettingKind where Value == Int? {
    /// The most event loops `WORKERS` may ask for: far past the cores of one machine that a
    /// single process serves well, low enough that a typo cannot start thousands of threads.
    public static var maxWorkers: Int { 64 }

    /// `WORKERS`: a whole number from 1 to `maxWorkers`, or empty for one loop per core.
    public static var workerCount: Self {
        let allowed = "must be 1 to \(maxWorkers), or empty for one per core"
        return Self(allowed: "integer 1 to \(maxWorkers), or empty", describe: { $0.map { code(String($0)) } ?? "one per core" }) { text in
            if text.trimmingUnicodeWhitespace().isEmpty { return .success(nil) }
            guard let value = parseInt(text) else { return .failure(SettingProblem("is not an integer: \(allowed)")) }
            return checkRange(value, min: 1, max: maxWorkers, allowed).map { $0 }
        }
    }
}

extension SettingKind where Value == Double {
    public static func decimal(min: Double? = nil, max: Double? = nil) -> Self {
        let allowed = rangeText(min: min, max: max)
        return Self(allowed: allowedColumn("number", allowed), describe: { code(String($0)) }) { text in
            guard let value = parseDecimal(text) else { return .failure(SettingProblem("is not a number: \(allowed)")) }
            return checkRange(value, min: min, max: max, allowed)
        }
    }
}

/// Thirty years: beyond any useful timeout, and its nanoseconds fit in an `Int64`.
private let maxSeconds = 1e9

/// Rounded to whole nanoseconds, so decimal text gives exact milliseconds downstream (`2.3` is
/// 2300 ms, where the nearest binary fraction would give 2299.999...).
private func duration(seconds value: Double) -> Result<Duration, SettingProblem> {
    if value > maxSeconds { return .failure(SettingProblem("is out of range: must be at most 1000000000 seconds")) }
    return .success(.nanoseconds(Int64((value * 1e9).rounded())))
}

/// Seconds as the README writes them: `30`, `2.5`.
private func secondsText(_ duration: Duration) -> String {
    let (whole, fraction) = duration.components
    if fraction == 0 { return code(String(whole)) }
    return code(String(Double(whole) + Double(fraction) / 1e18))
}

extension SettingKind where Value == Duration {
    /// A number of seconds, more than zero.
    public static var positiveSeconds: Self {
        let allowed = "must be a number of seconds > 0"
        return Self(allowed: "seconds > 0", describe: secondsText) { text in
            guard let value = parseDecimal(text) else { return .failure(SettingProblem("is not a number: \(allowed)")) }
            if value <= 0 { return .failure(SettingProblem("is out of range: \(allowed)")) }
            return duration(seconds: value)
        }
    }

    /// A number of seconds, zero allowed.
    public static var seconds: Self {
        let decimal = SettingKind<Double>.decimal(min: 0)
        return Self(allowed: "seconds >= 0", describe: secondsText) { decimal.parse($0).flatMap { duration(seconds: $0) } }
    }

    /// A whole number of seconds, at least `min` (the reference's integer rate window), at
    /// most `maxSeconds` like every other time: a window of 10^16 s overflowed the loop clock's
    /// milliseconds and trapped at the first request.
    public static func wholeSeconds(min: Int) -> Self {
        SettingKind<Int>.int(min: min, max: Int(maxSeconds))
            .map(allowed: "whole seconds >= \(min)", { .seconds($0) }, describe: secondsText)
    }
}

extension SettingKind where Value == Duration? {
    /// A number of seconds where 0 means no limit.
    public static var secondsOrNone: Self {
        let kind = SettingKind<Duration>.seconds
        return Self(allowed: "seconds >= 0; `0`: none", describe: { $0.map(secondsText) ?? "`0` (none)" }) { text in
            kind.parse(text).map { $0 == .zero ? nil : $0 }
        }
    }
}

extension SettingKind where Value: CaseIterable & RawRepresentable<String> {
    /// One of the enum's raw values, exactly as written unless `parse` says otherwise.
    public static func choice(parse: @escaping @Sendable (String) -> Value? = { Value(rawValue: $0) }) -> Self {
        let names = Value.allCases.map(\.rawValue)
        return Self(allowed: names.map(code).joined(separator: ", "), describe: { code($0.rawValue) }) { text in
            if let value = parse(text) { return .success(value) }
            return .failure(SettingProblem("is not allowed: must be one of \(names.joined(separator: ", "))"))
        }
    }
}

/// Optional sign and decimal digits, surrounding whitespace allowed.
func parseInt(_ text: String) -> Int? {
    let t = text.trimmingUnicodeWhitespace()
    let digits = t.hasPrefix("-") || t.hasPrefix("+") ? t.dropFirst() : Substring(t)
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return Int(t)
}

/// Decimal notation only (`1`, `-0.5`, `.5`, `2.`, `1e-3`); no inf, nan or hex,
/// which `Double.init` would accept.
func parseDecimal(_ text: String) -> Double? {
    let t = text.trimmingUnicodeWhitespace()
    var chars = Substring(t)
    if chars.first == "-" || chars.first == "+" { chars = chars.dropFirst() }
    let mantissa = chars.prefix { $0 != "e" && $0 != "E" }
    let exponent = chars.dropFirst(mantissa.count)
    let parts = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    let isDigits: (Substring) -> Bool = { $0.allSatisfy { $0.isASCII && $0.isNumber } }
    guard parts.count <= 2, parts.allSatisfy(isDigits), parts.contains(where: { !$0.isEmpty }) else { return nil }
    if !exponent.isEmpty {
        var e = exponent.dropFirst()
        if e.first == "-" || e.first == "+" { e = e.dropFirst() }
        guard !e.isEmpty, isDigits(e) else { return nil }
    }
    guard let value = Double(t), value.isFinite else { return nil }
    return value
}
