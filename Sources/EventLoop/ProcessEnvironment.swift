#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// This process's environment, read from `environ` (no Foundation in the server).
public enum ProcessEnvironment {
    /// Every `NAME=value` entry, in `environ`'s order.
    public static var entries: [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result.append((String(text[..<equals]), String(text[text.index(after: equals)...])))
            }
            pointer += 1
        }
        return result
    }

    /// The entries as a dictionary; a name given twice keeps its first value, as `getenv` does.
    public static var dictionary: [String: String] {
        var result: [String: String] = [:]
        for (key, value) in entries where result[key] == nil { result[key] = value }
        return result
    }

    /// `mkdir -p`: creates `path` and its missing parents (mode 0755). Returns the error
    /// text when a part cannot be created and does not already exist as a directory.
    public static func makeDirectories(_ path: String) -> String? {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                return "cannot create directory \(prefix): \(String(cString: strerror(errno)))"
            }
            prefix += "/"
        }
        var info = stat()
        if stat(path, &info) != 0 || (info.st_mode & S_IFMT) != S_IFDIR {
            return "\(path) is not a directory"
        }
        return nil
    }
}
