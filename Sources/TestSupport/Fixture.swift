// Where tests find their files. Each test target keeps its own in `Tests/<Target>/Fixtures/`;
// recordings several targets read (Claude Code's requests) are in `Tests/Fixtures/`. Paths are
// found from the calling test file's `#filePath`, so tests pass from any working directory.

import EventLoop

public enum Fixture {
    public enum Directory: Sendable {
        /// `Tests/<calling target>/Fixtures`.
        case target
        /// `Tests/<name>/Fixtures`: another target's fixtures (a fake program, say).
        case targetNamed(String)
        /// `Tests/Fixtures`, shared by several targets.
        case shared
    }

    /// The absolute path of a fixture directory.
    public static func directory(_ directory: Directory = .target, filePath: String = #filePath) -> String {
        let (testsRoot, target) = locate(filePath)
        switch directory {
        case .target: return "\(testsRoot)/\(target)/Fixtures"
        case .targetNamed(let other): return "\(testsRoot)/\(other)/Fixtures"
        case .shared: return "\(testsRoot)/Fixtures"
        }
    }

    /// The absolute path of fixture `name` (it may contain `/`).
    public static func path(_ name: String, in directory: Directory = .target, filePath: String = #filePath) -> String {
        self.directory(directory, filePath: filePath) + "/" + name
    }

    /// The bytes of fixture `name`; a missing fixture is an error, never an empty file.
    public static func bytes(_ name: String, in directory: Directory = .target, filePath: String = #filePath)
        throws(FileReadError) -> [UInt8]
    {
        try readWholeFile(path(name, in: directory, filePath: filePath)).get()
    }

    /// The text of fixture `name`, decoded as UTF-8.
    public static func text(_ name: String, in directory: Directory = .target, filePath: String = #filePath)
        throws(FileReadError) -> String
    {
        String(decoding: try bytes(name, in: directory, filePath: filePath), as: UTF8.self)
    }

    /// The absolute path of a file of the package, given relative to its root.
    public static func repositoryPath(_ relative: String, filePath: String = #filePath) -> String {
        let (testsRoot, _) = locate(filePath)
        let root = testsRoot.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return "\(root)/\(relative)"
    }

    /// `(<package>/Tests, <Target>)` for a test source at `<package>/Tests/<Target>/...`.
    static func locate(_ filePath: String) -> (testsRoot: String, target: String) {
        let parts = filePath.split(separator: "/", omittingEmptySubsequences: false)
        guard let tests = parts.dropLast(2).lastIndex(of: "Tests") else {
            preconditionFailure("\(filePath) is not a test source under Tests/<Target>/")
        }
        return (parts[...tests].joined(separator: "/"), String(parts[tests + 1]))
    }
}
