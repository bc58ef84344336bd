/// Commands that list or manage files without showing their contents: no paths.
private let listingCommands: Set<String> = ["ls", "dir", "find", "tree", "pwd", "cd", "mkdir", "rmdir", "rm"]

/// Commands whose operands are files they print.
private let readingCommands: Set<String> = ["cat", "head", "tail", "less", "more", "bat", "type"]

/// Options that take the next word as their value, per reading command, so `head -n 20 f`
/// reports `f` and not `20`. Only the separate-word form needs listing: `-n20` and
/// `--lines=20` are one word and skipped as flags anyway.
private let optionsWithValue: [String: Set<String>] = [
    "head": ["-n", "-c", "--lines", "--bytes"],
    "tail": ["-n", "-c", "-s", "--lines", "--bytes", "--sleep-interval", "--pid", "--max-unchanged-stats"],
    "less": ["-b", "-h", "-j", "-k", "-o", "-O", "-p", "-P", "-t", "-T", "-x", "-y", "-z", "--pattern", "--tag"],
    "more": ["-n", "--lines"],
    "bat": [
        "-l", "--language", "-H", "--highlight-line", "-r", "--line-range", "-m", "--map-syntax",
        "--theme", "--style", "--tabs", "--wrap", "--terminal-width", "--color", "--italic-text",
        "--decorations", "--paging", "--pager", "--file-name", "--diff-context",
    ],
]

/// grep options that take the next word; `-e`/`-f` (and long forms) supply the pattern,
/// so every positional word is then a file.
private let grepOptionsWithValue: Set<String> = [
    "-e", "-f", "-m", "-A", "-B", "-C", "-d", "-D", "--regexp", "--file", "--max-count",
    "--after-context", "--before-context", "--context", "--include", "--exclude", "--exclude-dir",
    "--exclude-from", "--label", "--directories", "--devices",
]
private let grepPatternOptions: Set<String> = ["-e", "-f", "--regexp", "--file"]

/// The answer to Claude Code's "which files did this command read" question, computed
/// locally: `<filepaths>\n...\n</filepaths>` with one path per line, or the empty form.
///
/// Only the first simple command counts: words stop at a pipe, `;`, `&`, `&&`, `||` or
/// an output redirection, since what follows is another command or a file written, not
/// read. An input redirection (`< file`) names a file read. A quoted operand is reported
/// without its quotes.
public func extractFilepaths(command: String, output: String) -> String {
    let empty = "<filepaths>\n</filepaths>"
    guard let parts = try? shlexSplitNonPOSIX(command), let first = parts.first else { return empty }
    let program = baseCommandName(first)
    if listingCommands.contains(program) { return empty }
    let words = simpleCommandWords(Array(parts.dropFirst()))

    var paths: [String] = []
    if readingCommands.contains(program) {
        let takesValue = optionsWithValue[program] ?? []
        var skipNext = false
        for word in words.operands {
            if skipNext { skipNext = false; continue }
            if startsWithDash(word) {
                skipNext = takesValue.contains(word)
                continue
            }
            paths.append(unquoted(word))
        }
    } else if program == "grep" {
        var patternGiven = false
        var positional: [String] = []
        var skipNext = false
        for word in words.operands {
            if skipNext { skipNext = false; continue }
            if startsWithDash(word) {
                if grepOptionsWithValue.contains(word) {
                    if grepPatternOptions.contains(word) { patternGiven = true }
                    skipNext = true
                }
                continue
            }
            positional.append(unquoted(word))
        }
        paths = patternGiven ? positional : Array(positional.dropFirst())
    } else {
        return empty
    }
    paths += words.inputFiles.map(unquoted)
    if paths.isEmpty { return empty }
    return "<filepaths>\n" + paths.joined(separator: "\n") + "\n</filepaths>"
}

/// `/usr/bin/cat` and `C:\bin\type` name `cat` and `type`; compared lowercased.
private func baseCommandName(_ word: String) -> String {
    let afterSlash = word.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
    let afterBackslash = afterSlash.split(separator: "\\", omittingEmptySubsequences: false).last ?? ""
    return afterBackslash.lowercased()
}

private func unquoted(_ word: String) -> String {
    let s = word.unicodeScalars
    guard s.count >= 2, let f = s.first, f == "'" || f == "\"", s.last == f else { return word }
    return String(String.UnicodeScalarView(s.dropFirst().dropLast()))
}

/// The words of the first simple command (after its program), and files it reads by `<`.
private func simpleCommandWords(_ tokens: [String]) -> (operands: [String], inputFiles: [String]) {
    var operands: [String] = []
    var inputs: [String] = []
    var expectInput = false
    for token in tokens {
        let cut = operatorCut(token)
        if expectInput {
            expectInput = false
            if let cut, cut.before.isEmpty { break }
            inputs.append(token)
            continue
        }
        guard let cut else {
            operands.append(token)
            continue
        }
        // A redirection's file-descriptor number (`2>`) is not an operand.
        let isFDNumber = !cut.before.isEmpty && cut.before.unicodeScalars.allSatisfy { ("0"..."9").contains($0) }
        if !cut.before.isEmpty && !isFDNumber { operands.append(cut.before) }
        guard case .input(let target) = cut.op else { break }
        if target.isEmpty {
            expectInput = true
        } else if operatorCut(target) == nil {
            inputs.append(target)
        } else {
            break
        }
    }
    return (operands, inputs)
}

private enum ShellOperator {
    /// `<` with the rest of the word after it (empty when the file is the next word).
    case input(String)
    /// Anything that ends the simple command or sends its output elsewhere.
    case end
}

/// Where the first unquoted shell operator character (`|`, `;`, `&`, `<`, `>`) of a word
/// is, if any: the text before it and which operator it starts.
private func operatorCut(_ word: String) -> (before: String, op: ShellOperator)? {
    let s = Array(word.unicodeScalars)
    var quote: Unicode.Scalar? = nil
    for (i, c) in s.enumerated() {
        if let q = quote {
            if c == q { quote = nil }
            continue
        }
        if c == "'" || c == "\"" { quote = c; continue }
        guard c == "|" || c == ";" || c == "&" || c == "<" || c == ">" else { continue }
        let before = String(String.UnicodeScalarView(s[..<i]))
        guard c == "<" else { return (before, .end) }
        let rest = s[(i + 1)...]
        // `<<` (here-document), `<<<` (here-string), `<(` and `<&` read no named file.
        if let n = rest.first, n == "<" || n == "(" || n == "&" { return (before, .end) }
        return (before, .input(String(String.UnicodeScalarView(rest))))
    }
    return nil
}
