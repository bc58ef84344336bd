import JSON

/// A string-keyed map that remembers insertion order the way a Python `dict`
/// does: replacing a value keeps the key's position, removing and re-adding a
/// key moves it to the end. The store's file and every getter expose this
/// order, so the Python bot sees its dicts back in the order it wrote them.
///
/// Lookups and removals are O(1): removed slots become tombstones and are
/// compacted once they outnumber the live entries, so `cleanup_old_trees`
/// dropping thousands of node mappings stays linear.
public struct OrderedMap<Value: Sendable>: Sendable {
    private var slots: [(key: String, value: Value)?] = []
    private var positions: [String: Int] = [:]

    public init() {}

    public var count: Int { positions.count }
    public var isEmpty: Bool { positions.isEmpty }

    public subscript(key: String) -> Value? {
        get {
            guard let i = positions[key] else { return nil }
            return slots[i]!.value
        }
        set {
            if let newValue {
                if let i = positions[key] {
                    slots[i]!.value = newValue
                } else {
                    positions[key] = slots.count
                    slots.append((key, newValue))
                }
            } else {
                removeValue(forKey: key)
            }
        }
    }

    /// Edits a value in place (inserting `defaultValue` at the end first when the
    /// key is new), so growing a stored array does not copy it.
    public mutating func withValue<R>(forKey key: String, default defaultValue: @autoclosure () -> Value,
                                      _ body: (inout Value) throws -> R) rethrows -> R {
        if positions[key] == nil {
            positions[key] = slots.count
            slots.append((key, defaultValue()))
        }
        return try body(&slots[positions[key]!]!.value)
    }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> Value? {
        guard let i = positions.removeValue(forKey: key) else { return nil }
        let old = slots[i]!.value
        slots[i] = nil
        if slots.count > 32 && positions.count * 2 < slots.count { compact() }
        return old
    }

    public mutating func removeAll() {
        slots.removeAll()
        positions.removeAll()
    }

    /// Live entries in insertion order.
    public var entries: [(key: String, value: Value)] { slots.compactMap { $0 } }
    public var keys: [String] { slots.compactMap { $0?.key } }

    private mutating func compact() {
        slots = slots.compactMap { $0 }
        positions.removeAll(keepingCapacity: true)
        for (i, slot) in slots.enumerated() { positions[slot!.key] = i }
    }
}

extension OrderedMap: Equatable where Value: Equatable {
    public static func == (lhs: OrderedMap, rhs: OrderedMap) -> Bool {
        let l = lhs.entries, r = rhs.entries
        return l.count == r.count && zip(l, r).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

extension OrderedMap where Value == JSONValue {
    /// The map as a JSON object in the same order.
    public var jsonObject: JSONObject {
        var object = JSONObject()
        for (key, value) in entries { object.appendUnchecked(key: key, value: value) }
        return object
    }
}

extension OrderedMap where Value == JSONObject {
    public var jsonObject: JSONObject {
        var object = JSONObject()
        for (key, value) in entries { object.appendUnchecked(key: key, value: .object(value)) }
        return object
    }
}

extension OrderedMap where Value == String {
    public var jsonObject: JSONObject {
        var object = JSONObject()
        for (key, value) in entries { object.appendUnchecked(key: key, value: .string(value)) }
        return object
    }
}
