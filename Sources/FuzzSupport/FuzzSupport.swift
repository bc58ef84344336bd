#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// What every fuzz target shares: the replayer that is the target's `main` outside the fuzzing
// build, how an input is cut into the pieces a socket would deliver, and how a broken property
// is reported. Not part of the product: only the `fuzz-*` executables link it.

/// The signature of `LLVMFuzzerTestOneInput`.
public typealias FuzzBody = (UnsafePointer<UInt8>, Int) -> CInt

/// Runs `body` over every file named in `arguments` (a directory: every file in it, sorted).
///
/// A fuzz target built without `-sanitize=fuzzer` has no libFuzzer `main`, so this is its `main`:
/// `swift run fuzz-NAME fuzz/crashes/...` replays a crash input in an ordinary debug build (under
/// a debugger, with Swift's own backtrace), and the normal `swift build` links every target.
public func replay(_ arguments: [String], _ body: FuzzBody) -> Int32 {
    if arguments.isEmpty {
        printError("usage: fuzz-TARGET FILE_OR_DIRECTORY... (replays inputs; scripts/fuzz.sh fuzzes)")
        return 2
    }
    var count = 0
    for argument in arguments {
        for path in expand(argument) {
            guard let bytes = readFile(path) else {
                printError("cannot read \(path)")
                return 1
            }
            _ = bytes.withUnsafeBufferPointer { buffer in
                // A zero-length input still needs a valid pointer, as libFuzzer always passes one.
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(buffer.count, 1)) { scratch in
                    if let base = buffer.baseAddress { scratch.baseAddress!.initialize(from: base, count: buffer.count) }
                    return body(scratch.baseAddress!, buffer.count)
                }
            }
            count += 1
        }
    }
    print("replayed \(count) input(s) without a failure")
    return 0
}

/// Stops the process the way libFuzzer notices (a trap), saying which property broke: a fuzz
/// target checks what must hold for every input, not only that nothing crashes.
public func propertyFailed(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError("fuzz property broken: \(message)", file: file, line: line)
}

/// The first input byte steers how the rest is cut; the rest is the payload.
public struct FuzzInput {
    public let control: UInt8
    public let payload: UnsafeRawBufferPointer

    public init?(_ data: UnsafePointer<UInt8>, _ size: Int) {
        guard size > 0 else { return nil }
        control = data[0]
        payload = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    }

    public var payloadBytes: [UInt8] { Array(payload) }
}

/// Cuts `0..<count` into consecutive ranges as a peer's reads might arrive.
///
/// A control byte below 128 makes one cut at a point proportional to it (so any single
/// boundary of a short input is reachable: inside a UTF-8 sequence, between `\r` and `\n`,
/// inside a tag); 128 and above cuts pieces of `control - 127` (1 to 128) units each, down
/// to one byte at a time.
public func splitRanges(count: Int, control: UInt8) -> [Range<Int>] {
    guard count > 0 else { return [] }
    if control < 128 {
        let cut = count * Int(control) / 127
        return [0..<cut, cut..<count].filter { !$0.isEmpty }
    }
    let piece = Int(control) - 127
    return stride(from: 0, to: count, by: piece).map { $0..<min($0 + piece, count) }
}

// MARK: Files (the replayer only)

private func printError(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

private func isDirectory(_ path: String) -> Bool {
    var info = stat()
    guard stat(path, &info) == 0 else { return false }
    return (info.st_mode & S_IFMT) == S_IFDIR
}

private func expand(_ path: String) -> [String] {
    guard isDirectory(path), let dir = opendir(path) else { return [path] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
        }
        if name.hasPrefix(".") { continue }
        names.append(path + "/" + name)
    }
    return names.sorted().filter { !isDirectory($0) }
}

private func readFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count { break }
    }
    return ferror(file) == 0 ? bytes : nil
}

/// The `main` of a fuzz target outside the fuzzing build: replays the files named on the
/// command line.
public func replayMain(_ body: FuzzBody) -> Never {
    exit(replay(Array(CommandLine.arguments.dropFirst()), body))
}
