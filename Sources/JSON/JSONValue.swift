/// A JSON document as parsed: objects keep their key order, numbers keep the
/// integer/float distinction Python's `json` module makes (token counts and the
/// upstream request body depend on both).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer literal that fits in `Int` (no fraction, no exponent).
    case int(Int)
    /// An integer literal too large for `Int`, kept as its decimal digits
    /// (with a leading `-` when negative) so it re-serializes exactly, as Python's
    /// unbounded `int` does.
    case bigInt(String)
    /// A literal with a fraction or an exponent.
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

extension JSONValue {
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var intValue: Int? { if case .int(let i) = self { return i } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }

    /// The value as a Double when it is any JSON number.
    public var numberValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bigInt(let s): return Double(s)
        default: return nil
        }
    }

    /// Member lookup on an object; nil for missing keys and for non-objects.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The JSON type name used in validation messages ("object", "array", ...).
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .bigInt: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements))
    }
}

/// An insertion-ordered JSON object. Setting an existing key replaces its value
/// in place (Python's dict does the same, also for duplicate keys in a parsed
/// document: the last value wins at the first key's position).
///
/// Equality is order-sensitive: two objects are equal when they hold the same
/// keys in the same order with equal values.
public struct JSONObject: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    public private(set) var entries: [Entry]

    public init() { entries = [] }

    public init(_ pairs: [(String, JSONValue)]) {
        entries = []
        entries.reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public var keys: [String] { entries.map(\.key) }

    public func index(forKey key: String) -> Int? {
        entries.firstIndex { sameKey($0.key, key) }
    }

    public subscript(key: String) -> JSONValue? {
        get {
            for e in entries where sameKey(e.key, key) { return e.value }
            return nil
        }
        set {
            if let i = index(forKey: key) {
                if let v = newValue { entries[i].value = v } else { entries.remove(at: i) }
            } else if let v = newValue {
                entries.append(Entry(key: key, value: v))
            }
        }
    }

    /// Room for `count` members without growing.
    public mutating func reserveCapacity(_ count: Int) {
        entries.reserveCapacity(count)
    }

    /// Appends without checking for an existing key. Only for builders that know
    /// the key is new (the parser checks duplicates itself).
    public mutating func appendUnchecked(key: String, value: JSONValue) {
        entries.append(Entry(key: key, value: value))
    }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let i = index(forKey: key) else { return nil }
        return entries.remove(at: i).value
    }
}

extension JSONObject: Sequence {
    public func makeIterator() -> IndexingIterator<[Entry]> { entries.makeIterator() }
}

/// Key equality for lookups: decoding looks up a dozen names in each object, and most candidates
/// differ in length, which the UTF-8 counts settle without the full comparison. (Python's dict, the
/// reference, compares code points: keys of different lengths never match there either.)
@inline(__always)
private func sameKey(_ a: String, _ b: String) -> Bool {
    a.utf8.count == b.utf8.count && a == b
}
