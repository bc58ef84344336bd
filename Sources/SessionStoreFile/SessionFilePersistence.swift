// The session store's file: the blocking reads, writes and renames, kept out of `SessionStore`
// (state, file format and save policy), which does no I/O.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EventLoop
import SessionStore

/// A failed file operation, with the `errno` it failed on.
public struct SessionFileIOError: Error, Equatable, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32

    public init(operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))"
    }
}

/// A sessions file that could not be loaded and was moved aside.
public struct SessionFileQuarantine: Sendable, Equatable {
    public var originalPath: String
    public var quarantinePath: String
    public var reason: String
}

public struct SessionFileLoadResult: Sendable {
    public var state: SessionStoreState
    /// Set when the file was unreadable or corrupt and has been renamed aside;
    /// the state is then empty.
    public var quarantine: SessionFileQuarantine?
}

/// The store's file I/O: plain blocking calls, meant for a worker thread (the
/// loop hands over a snapshot and gets the outcome back) or for start-up.
public enum SessionFilePersistence {
    /// Replaces the file at `path` with `bytes` so that a reader, or the file
    /// after a crash or power loss, shows either the old or the new content,
    /// never a mix: write a temporary file in the same directory, fsync it,
    /// rename it over the target, fsync the directory so the rename itself is
    /// durable. (The reference truncates and rewrites in place, which leaves a
    /// torn file if the process dies mid-write.)
    ///
    /// A new file gets mode 0666 minus the umask, like Python's `open(path, "w")`;
    /// an existing file keeps its mode.
    public static func writeAtomically(path: String, bytes: [UInt8]) throws(SessionFileIOError) {
        let directory = directoryName(of: path)
        var tempPath = ""
        var fd: Int32 = -1
        // The name only needs to be unique among concurrent writers of this file.
        for attempt in 0..<100 {
            tempPath = "\(path).tmp-\(getpid())-\(attempt)"
            fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw SessionFileIOError(operation: "create", path: tempPath, code: errno) }

        var failure: SessionFileIOError?
        var existing = stat()
        if stat(path, &existing) == 0, fchmod(fd, existing.st_mode & 0o7777) != 0 {
            failure = SessionFileIOError(operation: "chmod", path: tempPath, code: errno)
        }
        if failure == nil { failure = writeAll(fd: fd, bytes: bytes, path: tempPath) }
        if failure == nil, fsync(fd) != 0 {
            failure = SessionFileIOError(operation: "fsync", path: tempPath, code: errno)
        }
        if close(fd) != 0, failure == nil {
            failure = SessionFileIOError(operation: "close", path: tempPath, code: errno)
        }
        if failure == nil, rename(tempPath, path) != 0 {
            failure = SessionFileIOError(operation: "rename", path: path, code: errno)
        }
        if let failure {
            unlink(tempPath)
            throw failure
        }
        try syncDirectory(directory)
    }

    /// Loads the store from `path`. A missing file is an empty store (first
    /// start). A file that cannot be read or is not a valid sessions file is
    /// renamed to `<name>.corrupt-<UTC stamp>` next to it and the store starts
    /// empty, with the quarantine reported; the reference logs and starts empty
    /// too, but then overwrites the file on its next save, losing it.
    ///
    /// Throws only when the bad file cannot be moved aside: carrying on would
    /// overwrite it, so the caller must not save to `path`.
    public static func loadOrQuarantine(path: String, now: UTCTime, messageLogCap: Int? = nil)
        throws(SessionFileIOError) -> SessionFileLoadResult
    {
        let reason: String
        switch readFile(path) {
        case .success(let bytes):
            do throws(SessionFileError) {
                let state = try SessionStoreState(loading: bytes, messageLogCap: messageLogCap)
                return SessionFileLoadResult(state: state, quarantine: nil)
            } catch {
                reason = error.description
            }
        case .failure(let error):
            if error.code == ENOENT {
                return SessionFileLoadResult(state: SessionStoreState(messageLogCap: messageLogCap), quarantine: nil)
            }
            reason = error.description
        }
        let moved = try moveAside(path, stamp: now.compactStamp)
        return SessionFileLoadResult(
            state: SessionStoreState(messageLogCap: messageLogCap),
            quarantine: SessionFileQuarantine(originalPath: path, quarantinePath: moved, reason: reason))
    }

    /// Renames without ever replacing an existing file: a second corrupt file in
    /// the same second gets a `-1`, `-2`, ... suffix.
    static func moveAside(_ path: String, stamp: String) throws(SessionFileIOError) -> String {
        for attempt in 0..<1000 {
            let candidate = "\(path).corrupt-\(stamp)" + (attempt == 0 ? "" : "-\(attempt)")
            // link() fails with EEXIST instead of replacing, which rename() would do.
            if link(path, candidate) == 0 {
                if unlink(path) != 0 {
                    let code = errno
                    unlink(candidate)
                    throw SessionFileIOError(operation: "unlink", path: path, code: code)
                }
                try syncDirectory(directoryName(of: path))
                return candidate
            }
            switch errno {
            case EEXIST:
                continue
            case EPERM, ENOTSUP, EXDEV, EMLINK:
                // No hard links here (some file systems, or a directory at `path`):
                // check, then rename.
                if access(candidate, F_OK) == 0 { continue }
                if rename(path, candidate) != 0 {
                    throw SessionFileIOError(operation: "rename", path: path, code: errno)
                }
                try syncDirectory(directoryName(of: path))
                return candidate
            default:
                throw SessionFileIOError(operation: "link", path: candidate, code: errno)
            }
        }
        throw SessionFileIOError(operation: "rename", path: path, code: EEXIST)
    }

    static func readFile(_ path: String) -> Result<[UInt8], SessionFileIOError> {
        readWholeFile(path).mapError { SessionFileIOError(operation: $0.operation, path: $0.path, code: $0.code) }
    }

    private static func writeAll(fd: Int32, bytes: [UInt8], path: String) -> SessionFileIOError? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return SessionFileIOError(operation: "write", path: path, code: n < 0 ? errno : EIO)
            }
        }
        return nil
    }

    private static func syncDirectory(_ directory: String) throws(SessionFileIOError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SessionFileIOError(operation: "open", path: directory, code: errno) }
        defer { close(fd) }
        // Some file systems cannot fsync a directory (EINVAL); the rename is then
        // as durable as they make it.
        if fsync(fd) != 0 && errno != EINVAL {
            throw SessionFileIOError(operation: "fsync", path: directory, code: errno)
        }
    }

    static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = path[..<slash]
        return parent.isEmpty ? "/" : String(parent)
    }
}
