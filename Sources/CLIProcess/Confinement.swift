// Confinement: the directory tree the server lets CLI sessions work in (`ALLOWED_DIR`). A path a
// client names is resolved the way the kernel would follow it (symlinks and `..`), and only then
// compared, so neither `root/../etc` nor a symlink inside the root that points out of it passes.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EventLoop

/// A resolved root directory and the check that keeps paths inside it.
public struct Confinement: Sendable, Equatable {
    /// The root, resolved (absolute, no symlinks, no `.` or `..`).
    public let root: String

    /// Resolves `directory` (relative to the current directory); nil and the reason when it cannot be.
    public static func resolving(_ directory: String) -> Result<Confinement, ConfinementError> {
        guard let resolved = resolve(directory) else {
            return .failure(ConfinementError(path: directory, reason: "cannot be resolved: \(lastErrorText())"))
        }
        return .success(Confinement(root: resolved))
    }

    /// `directory` created when it is missing (`mkdir -p`, as the reference creates its workspace),
    /// then resolved.
    public static func creating(_ directory: String) -> Result<Confinement, ConfinementError> {
        if let problem = ProcessEnvironment.makeDirectories(directory) {
            return .failure(ConfinementError(path: directory, reason: problem))
        }
        return resolving(directory)
    }

    public init(root: String) {
        self.root = root
    }

    /// `path` resolved, when it lies inside the root (the root itself included); otherwise the reason.
    public func admit(_ path: String) -> Result<String, ConfinementError> {
        if let problem = CLIArgumentCheck.problem(argument: path) {
            return .failure(ConfinementError(path: path, reason: problem))
        }
        guard let resolved = Confinement.resolve(path) else {
            return .failure(ConfinementError(path: path, reason: "cannot be resolved: \(Confinement.lastErrorText())"))
        }
        guard Confinement.contains(root: root, resolved) else {
            return .failure(ConfinementError(path: path, reason: "resolves to \(resolved), outside \(root)"))
        }
        return .success(resolved)
    }

    /// Whether the resolved `path` is `root` or below it. Pure: both are resolved already, so a
    /// textual comparison on whole components is exact (`/a/bc` is not inside `/a/b`).
    public static func contains(root: String, _ path: String) -> Bool {
        if root == "/" { return path.hasPrefix("/") }
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        return path == base || path.hasPrefix(base + "/")
    }

    /// `realpath` of `path`; for a path that does not exist yet (a workspace the CLI will create),
    /// `realpath` of its deepest existing ancestor with the missing components appended, which cannot
    /// be symlinks since they do not exist. A `..` among the missing components is refused: the
    /// kernel could not follow it either.
    static func resolve(_ path: String) -> String? {
        if let full = realPath(path) { return full }
        guard errno == ENOENT else { return nil }
        let absolute = path.hasPrefix("/") ? path : CLISession.currentDirectory() + "/" + path
        var existing = absolute.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var missing: [String] = []
        while let last = existing.popLast() {
            missing.insert(last, at: 0)
            let prefix = "/" + existing.joined(separator: "/")
            if let base = realPath(prefix) {
                var result = base
                for part in missing where part != "." {
                    if part == ".." {
                        errno = ENOENT
                        return nil
                    }
                    result += (result.hasSuffix("/") ? "" : "/") + part
                }
                return result
            }
            guard errno == ENOENT else { return nil }
        }
        return nil
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func lastErrorText() -> String {
        String(cString: strerror(errno))
    }
}

/// A path refused by a `Confinement`.
public struct ConfinementError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String

    public var description: String { "\(path) \(reason)" }
}
