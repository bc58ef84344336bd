import FuzzSupport
import JSON

// The JSON parser reads every request body and every upstream chunk.
//
// Checked for every input, beyond not crashing:
// - the chunk path (`keeping:` a few top-level keys) accepts and refuses exactly what the full
//   parse does, with the same error, and builds the same values for the keys it keeps;
// - what the writer makes of a parsed document (sent upstream and to clients) parses again and
//   writes back to the same bytes.

private let keptKeys = ["choices", "usage", "error"]
private let chunkKeys = TopLevelKeys(keptKeys)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let full = Result { () throws(JSONParseError) -> JSONValue in try JSONValue.parse(bytes) }
    let kept = Result { () throws(JSONParseError) -> JSONValue in
        try JSONValue.parse(bytes, keeping: chunkKeys)
    }
    switch (full, kept) {
    case (.failure(let a), .failure(let b)):
        if a != b { propertyFailed("full parse says \(a), keeping parse says \(b)") }
        return 0
    case (.success, .failure(let e)):
        propertyFailed("keeping parse refused what the full parse accepted: \(e)")
    case (.failure(let e), .success):
        propertyFailed("keeping parse accepted what the full parse refused: \(e)")
    case (.success(let value), .success(let partial)):
        checkKept(full: value, kept: partial)
        checkRoundTrip(value)
        // Token counts are taken over this text: it only has to be produced without a crash.
        _ = value.pythonDumpsBytes()
        return 0
    }
}

private func checkKept(full: JSONValue, kept: JSONValue) {
    guard case .object(let object) = full else {
        if kept != full { propertyFailed("keeping parse changed a non-object document") }
        return
    }
    guard case .object(let partial) = kept else { propertyFailed("keeping parse did not build an object") }
    // Other members may be built too (a key written with escapes is decoded to be compared):
    // readers of the kept object look only at the kept keys.
    for key in keptKeys where partial[key] != object[key] {
        propertyFailed("keeping parse built \(key) differently")
    }
}

private func checkRoundTrip(_ value: JSONValue) {
    let written = value.compactBytes()
    let again: JSONValue
    do {
        again = try JSONValue.parse(written)
    } catch {
        propertyFailed("compact output does not parse: \(error)")
    }
    if again.compactBytes() != written { propertyFailed("compact output does not write back to itself") }
}

#if !FUZZING
@main enum Replay {
    static func main() { replayMain(fuzz) }
}
#endif
