// Python's view of decoded JSON: the reference turns values into text with `str()`/`repr()` and
// tests them with `bool()`, and the port has to give the same answers. The text rules themselves
// (whitespace, `repr(str)`) are in the Text module.

import Text

extension JSONValue {
    /// Python's `bool()` of the value `json.loads` would return: null, false, zero and empty
    /// strings, lists and dicts are false.
    public var isPythonTruthy: Bool {
        switch self {
        case .null: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .bigInt: return true
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        }
    }

    /// Python's `str()` of the decoded value: like `repr` except that a top-level string is
    /// shown bare.
    public var pythonStr: String {
        if case .string(let s) = self { return s }
        return pythonRepr
    }

    /// Python's `repr()` of the value `json.loads` would return.
    public var pythonRepr: String {
        switch self {
        case .null: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .bigInt(let digits): return digits
        case .double(let d):
            // `repr(float)` spells the non-finite values as Python literals, unlike json.dumps.
            if d.isNaN { return "nan" }
            if d.isInfinite { return d < 0 ? "-inf" : "inf" }
            return d.pythonRepr
        case .string(let s): return s.pythonRepr
        case .array(let a): return "[" + a.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .object(let o):
            return "{" + o.entries.map { $0.key.pythonRepr + ": " + $0.value.pythonRepr }.joined(separator: ", ") + "}"
        }
    }
}
