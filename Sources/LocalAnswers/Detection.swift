import AnthropicAPI
import Text

// Recognisers for the housekeeping requests Claude Code sends beside real work.
//
// Messages with role `system` (sent by current Claude Code, refused by the reference) are
// instructions like the top-level system prompt, so the recognisers look only at the
// user/assistant conversation, where the reference looked.

/// The conversation's last message, or nil for none. (Read in place: every request is checked.)
private func lastOfConversation(_ request: MessagesRequest) -> Message? {
    request.messages.last { $0.role != .system }
}

/// The conversation's one message from the user, or nil when it has none or more than one message.
private func soleUserMessage(_ request: MessagesRequest) -> Message? {
    var found: Message?
    for message in request.messages where message.role != .system {
        if found != nil { return nil }
        found = message
    }
    return found?.role == .user ? found : nil
}

/// A quota probe: `max_tokens` 1 and a single user message mentioning "quota".
public func isQuotaCheckRequest(_ request: MessagesRequest) -> Bool {
    guard request.maxTokens == 1, let message = soleUserMessage(request) else { return false }
    return textContains(extractText(from: message.content), "quota", asciiCaseInsensitive: true)
}

/// A start-up or model check: `max_tokens` 1 and a conversation ending with the user's message,
/// whatever its text (`quota`, `.`, `Hi`, `test`), for a Claude model name or one of the
/// configured upstream models. One token can carry no answer worth waiting for.
public func isNetworkProbe(_ request: MessagesRequest, knownModels: Set<String>) -> Bool {
    guard request.maxTokens == 1, let last = lastOfConversation(request), last.role == .user else { return false }
    let asked = request.originalModel
    return isClaudeModel(stripProviderPrefix(asked)) || knownModels.contains(asked)
        || knownModels.contains(stripProviderPrefix(asked))
}

/// A conversation-title request: the last message is the user's and asks for a 5-10 word title.
public func isTitleGenerationRequest(_ request: MessagesRequest) -> Bool {
    guard let last = lastOfConversation(request), last.role == .user else { return false }
    return textContains(extractText(from: last.content), "write a 5-10 word title", asciiCaseInsensitive: true)
}

/// A command-prefix request: one user message holding `<policy_spec>` and `Command:`.
/// Returns the command (text after the last `Command:`, up to where the command ends).
public func prefixDetectionCommand(_ request: MessagesRequest) -> String? {
    guard let message = soleUserMessage(request) else { return nil }
    let content = extractText(from: message.content)
    // Searched in place first: only a match is worth a copy of the text (which can be megabytes).
    guard textContains(content, "<policy_spec>"), textContains(content, "Command:") else { return nil }
    let text = ByteText(content)
    guard let marker = text.rfind("Command:") else { return nil }
    return commandText(text.slice(marker + "Command:".utf8.count)).pythonStripped()
}

/// A suggestion-mode request: any user message contains "[SUGGESTION MODE:".
public func isSuggestionModeRequest(_ request: MessagesRequest) -> Bool {
    request.messages.contains { $0.role == .user && textContains(extractText(from: $0.content), "[SUGGESTION MODE:") }
}

/// A file-path extraction request: one user message, no tools, with `Command:` then
/// `Output:` and a mention of filepaths. Returns the command and the output, the output
/// cut at the first `<` and then at the first blank line.
public func filepathExtractionRequest(_ request: MessagesRequest) -> (command: String, output: String)? {
    guard let message = soleUserMessage(request) else { return nil }
    if let tools = request.tools, !tools.isEmpty { return nil }
    let content = extractText(from: message.content)
    guard textContains(content, "Command:"), textContains(content, "Output:"),
        textContains(content, "filepaths", asciiCaseInsensitive: true)
    else { return nil }
    let text = ByteText(content)
    let commandStart = text.find("Command:")! + "Command:".utf8.count
    guard let outputMarker = text.find("Output:", from: commandStart) else { return nil }
    let command = text.slice(commandStart, outputMarker).pythonStripped()
    var output = text.slice(outputMarker + "Output:".utf8.count).pythonStripped()
    for marker in ["<", "\n\n"] {
        let o = ByteText(output)
        if let cut = o.find(marker) { output = o.slice(0, cut).pythonStripped() }
    }
    return (command, output)
}

/// The command at the start of `tail`, without text that follows it in the prompt.
///
/// The command ends at a blank line, or before a line starting with a tag (`<x`, `</x`),
/// but only where bash would be between commands: inside quotes or a here-document body
/// a blank line or a `<` line is part of the command.
func commandText(_ tail: String) -> String {
    let s = Array(tail.unicodeScalars)
    enum Quote { case none, single, ansiC, double }
    var quote = Quote.none
    var heredocs: [(delimiter: String, stripTabs: Bool)] = []
    // Blank lines before the command begins (`Command:\n\ngit status`) do not end it.
    var started = false
    var i = 0

    func lineEnd(from j: Int) -> Int {
        var k = j
        while k < s.count && s[k] != "\n" { k += 1 }
        return k
    }

    while i < s.count {
        let c = s[i]
        if !started {
            started = !c.isPythonWhitespace
            if !started {
                i += 1
                continue
            }
        }
        switch quote {
        case .single:
            if c == "'" { quote = .none }
        case .ansiC:
            if c == "\\" { i += 1 } else if c == "'" { quote = .none }
        case .double:
            if c == "\\" { i += 1 } else if c == "\"" { quote = .none }
        case .none:
            if c == "\\" {
                i += 1
            } else if c == "'" {
                quote = .single
            } else if c == "\"" {
                quote = .double
            } else if c == "$", i + 1 < s.count, s[i + 1] == "'" {
                quote = .ansiC
                i += 1
            } else if c == "<", i + 1 < s.count, s[i + 1] == "<", !(i + 2 < s.count && s[i + 2] == "<") {
                if let (doc, next) = hereDocument(s, from: i + 2) {
                    heredocs.append(doc)
                    i = next
                    continue
                }
            } else if c == "\n" {
                // Skip here-document bodies: they start on the line after their operator.
                var lineStart = i + 1
                while let doc = heredocs.first {
                    heredocs.removeFirst()
                    while lineStart < s.count {
                        let end = lineEnd(from: lineStart)
                        var line = s[lineStart..<end]
                        if doc.stripTabs { line = line.drop { $0 == "\t" } }
                        lineStart = end + 1
                        if String(String.UnicodeScalarView(line)) == doc.delimiter { break }
                    }
                }
                if lineStart >= s.count { return tail }
                let nextLine = s[lineStart..<lineEnd(from: lineStart)]
                if nextLine.allSatisfy(\.isPythonWhitespace) || startsWithTag(nextLine) {
                    // Up to the line break before that line, here-document bodies included.
                    return String(String.UnicodeScalarView(s[..<(lineStart - 1)]))
                }
                i = lineStart
                continue
            }
        }
        i += 1
    }
    return tail
}

private func startsWithTag(_ line: ArraySlice<Unicode.Scalar>) -> Bool {
    guard line.first == "<", line.count > 1 else { return false }
    let n = line[line.startIndex + 1]
    return n == "/" || n == "!" || n.properties.isAlphabetic
}

/// Reads the delimiter of a here-document whose `<<` ends just before `from`: an optional
/// `-` (strip leading tabs), blanks, then the word, whose quotes are removed.
private func hereDocument(_ s: [Unicode.Scalar], from start: Int) -> ((delimiter: String, stripTabs: Bool), Int)? {
    var i = start
    var stripTabs = false
    if i < s.count && s[i] == "-" {
        stripTabs = true
        i += 1
    }
    while i < s.count && (s[i] == " " || s[i] == "\t") { i += 1 }
    var word = String.UnicodeScalarView()
    var quote: Unicode.Scalar? = nil
    while i < s.count {
        let c = s[i]
        if let q = quote {
            if c == q { quote = nil } else { word.append(c) }
        } else if c == "'" || c == "\"" {
            quote = c
        } else if c == "\\" {
            if i + 1 < s.count { word.append(s[i + 1]); i += 1 }
        } else if c == " " || c == "\t" || c == "\n" || c == ";" || c == "|" || c == "&" || c == "<" || c == ">" || c == ")" {
            break
        } else {
            word.append(c)
        }
        i += 1
    }
    guard !word.isEmpty, quote == nil else { return nil }
    return ((String(word), stripTabs), i)
}
