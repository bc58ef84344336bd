import FuzzSupport
import ProxyConfig

// A `.env` file, read as the server reads it at start-up: parsed, then every setting parsed and
// checked by `Settings.load` (durations, integers, URLs, ranges). The server refuses a file that
// is not UTF-8 before parsing; here invalid bytes are repaired instead, so every input reaches
// the parser.
//
// Checked beyond not crashing: every binding has a key (a quoted key may span lines, as in
// python-dotenv), and a refused file produces its message (printed at start-up).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    if DotEnv.parse(text).contains(where: { $0.key.isEmpty }) { propertyFailed("a binding without a key") }
    do {
        _ = try Settings.load(environment: [:], dotEnv: text)
    } catch {
        _ = error.description
    }
    return 0
}

#if !FUZZING
@main enum Replay {
    static func main() { replayMain(fuzz) }
}
#endif
