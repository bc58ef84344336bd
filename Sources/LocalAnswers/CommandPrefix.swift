import Text

/// Programs whose first subcommand is part of the prefix (`git commit`, `npm install`).
private let twoWordCommands: Set<String> = ["git", "npm", "docker", "kubectl", "cargo", "go", "pip", "yarn"]

/// The answer to Claude Code's "command prefix" question, computed locally.
///
/// Returns `command_injection_detected` when the command substitutes another command
/// (a backtick or `$(` outside single quotes), `none` for an empty command, else the
/// leading `NAME=value` assignments plus the program, plus its subcommand for the
/// programs in `twoWordCommands` when the second word is not a flag.
public func extractCommandPrefix(_ command: String) -> String {
    if hasCommandSubstitution(command) { return "command_injection_detected" }
    let parts: [String]
    do {
        parts = try shlexSplitNonPOSIX(command)
    } catch {
        // The reference's fallback for an unbalanced quote: the first whitespace word.
        return pythonSplit(command).first ?? "none"
    }
    var assignments: [String] = []
    for part in parts {
        guard part.unicodeScalars.contains("="), !startsWithDash(part) else { break }
        assignments.append(part)
    }
    let words = parts.dropFirst(assignments.count)
    guard let program = words.first else { return "none" }
    // The reference dropped the assignments for two-word programs (`FOO=1 git commit`
    // gave `git commit`); the prefix must be a prefix of the command, so they stay.
    let lead = assignments.isEmpty ? "" : assignments.joined(separator: " ") + " "
    if twoWordCommands.contains(program), words.count > 1 {
        let second = words[words.startIndex + 1]
        if !startsWithDash(second) { return lead + program + " " + second }
    }
    return lead + program
}

/// True when bash would run another command while expanding this one: a backtick or `$(`
/// anywhere but inside single quotes (`'...'` or `$'...'`), where both are literal.
///
/// Deliberately errs towards true, because a false "no" lets a command through under an
/// allow-listed prefix: an escaped backtick or `\$(` still counts, and so does a single
/// quote left open at the end (the shell would not run that text as written).
public func hasCommandSubstitution(_ command: String) -> Bool {
    enum Quote { case none, single, ansiC, double }
    let s = Array(command.unicodeScalars)
    var quote = Quote.none
    var literalMarkerInOpenQuote = false
    var i = 0
    func isSubstitution(at i: Int) -> Bool {
        s[i] == "`" || (s[i] == "$" && i + 1 < s.count && s[i + 1] == "(")
    }
    while i < s.count {
        let c = s[i]
        switch quote {
        case .single:
            if c == "'" {
                quote = .none
                literalMarkerInOpenQuote = false
            } else if isSubstitution(at: i) {
                literalMarkerInOpenQuote = true
            }
        case .ansiC:
            if c == "\\" {
                i += 1  // `$'...'` honours escapes, so `\'` does not close it.
            } else if c == "'" {
                quote = .none
                literalMarkerInOpenQuote = false
            } else if isSubstitution(at: i) {
                literalMarkerInOpenQuote = true
            }
        case .double, .none:
            if isSubstitution(at: i) { return true }
            if c == "\\" {
                // Only skip what changes quoting: an escaped quote or backslash.
                if i + 1 < s.count, s[i + 1] == "\\" || s[i + 1] == "\"" || (quote == .none && s[i + 1] == "'") {
                    i += 1
                }
            } else if quote == .double {
                if c == "\"" { quote = .none }
            } else if c == "\"" {
                quote = .double
            } else if c == "'" {
                quote = .single
            } else if c == "$", i + 1 < s.count, s[i + 1] == "'" {
                quote = .ansiC
                i += 1
            }
        }
        i += 1
    }
    return literalMarkerInOpenQuote
}

/// Python's `s.startswith("-")`, on code points (Swift's `hasPrefix` compares graphemes).
func startsWithDash(_ s: String) -> Bool { s.unicodeScalars.first == "-" }
