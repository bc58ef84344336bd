#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import JSON
import Text
@testable import SessionStore
@testable import SessionStoreFile

/// A fresh directory under the system temp dir, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        // The system's temp directory: $TMPDIR, else the C library's P_tmpdir.
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? P_tmpdir
        var template = Array("\(base)/session-store-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw SessionFileIOError(operation: "mkdtemp", path: "", code: errno) }
        path = String(cBuffer: template)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func entries() -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    func remove() {
        for name in entries() {
            let p = file(name)
            if unlink(p) != 0 { rmdir(p) }
        }
        rmdir(path)
    }
}

func writeFile(_ path: String, _ text: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0)
    _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

func readFileBytes(_ path: String) -> [UInt8]? {
    try? SessionFilePersistence.readFile(path).get()
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// A JSON object literal as `JSONObject`.
func obj(_ value: JSONValue) -> JSONObject { value.objectValue! }

extension UTCTime {
    /// Test shorthand; traps on an invalid date.
    static func utc(_ y: Int, _ mo: Int, _ d: Int, _ h: Int = 0, _ mi: Int = 0, _ s: Int = 0, _ us: Int = 0) -> UTCTime {
        UTCTime(year: y, month: mo, day: d, hour: h, minute: mi, second: s, microsecond: us)!
    }

    func adding(days: Int64) -> UTCTime {
        UTCTime(microsecondsSinceEpoch: microsecondsSinceEpoch + days * 86_400_000_000)
    }
}
