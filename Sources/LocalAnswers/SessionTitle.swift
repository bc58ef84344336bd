import AnthropicAPI
import JSON
import Text

// Claude Code (2.1.x) names every session with a second request beside each user turn. Sent
// upstream, it doubles the cost of a turn against the free tier's 40 requests a minute; the answer
// is a short noun phrase that rules can give as well as a model, so it is made here.

/// The opening of the system block that asks for a session title.
private let sessionTitlePromptOpening = "You are naming a coding session"

/// The `<session>` text of a session-title request, or nil when the request is not one.
///
/// All of these must hold, so that no ordinary request is answered locally: a system block opens
/// with the title prompt, `output_config.format.schema.properties.title` is declared, there are no
/// tools, and the last conversation message is the user's and holds `<session>`.
public func sessionTitleRequest(_ request: MessagesRequest) -> String? {
    guard request.tools?.isEmpty ?? true, request.serverTools.isEmpty else { return nil }
    guard systemBlocks(request.system).contains(where: { $0.pythonStripped().utf8.starts(with: sessionTitlePromptOpening.utf8) })
    else { return nil }
    guard
        let properties = request.raw["output_config"]?["format"]?["schema"]?["properties"]?.objectValue,
        properties["title"] != nil
    else { return nil }
    guard let last = request.messages.last(where: { $0.role != .system }), last.role == .user else { return nil }
    let text = ByteText(extractText(from: last.content))
    guard let open = text.find("<session>") else { return nil }
    let start = open + "<session>".utf8.count
    let end = text.rfind("</session>").flatMap { $0 >= start ? $0 : nil } ?? text.bytes.count
    return text.slice(start, end)
}

private func systemBlocks(_ system: SystemPrompt?) -> [String] {
    switch system {
    case nil: return []
    case .text(let s): return [s]
    case .blocks(let blocks): return blocks.map(\.text)
    }
}

/// The answer's text: the JSON object the request's schema asks for.
public func sessionTitleAnswer(_ title: String) -> String {
    JSONValue.object(JSONObject([("title", .string(title))])).compactString()
}

// MARK: - The title

/// Sessions are read only this far: the title comes from what the user wrote first, and a pasted
/// megabyte must not cost more than a glance.
private let readLimit = 4000

/// Words that say what the user wants done, not what the session is about (the CLI's prompt
/// names fix, add, check, investigate, implement, evaluate, debug, refactor, update, help with,
/// look into); a few other languages' common ones too.
private let requestVerbs: Set<String> = [
    "fix", "fixing", "add", "adding", "check", "checking", "investigate", "investigating", "implement",
    "implementing", "evaluate", "debug", "debugging", "refactor", "refactoring", "update", "updating",
    "help", "look", "review", "analyze", "analyse", "make", "create", "write", "change", "improve",
    "explain", "find", "figure", "resolve", "solve", "handle", "support", "remove", "delete", "test",
    "run", "build", "setup", "set", "get", "show", "tell", "give", "try", "let's", "lets",
    // French, Spanish, German, Portuguese, Italian.
    "corrige", "corriger", "ajoute", "ajouter", "vérifie", "vérifier", "implémente", "arregla", "arreglar",
    "corrige", "añade", "agrega", "revisa", "implementa", "behebe", "beheben", "füge", "hinzufügen",
    "prüfe", "überprüfe", "korrigiere", "corrigir", "adicionar", "verificar", "correggi", "aggiungi",
    "controlla",
]

/// Words that name nothing: articles, pronouns, politeness, prepositions, auxiliaries.
private let fillerWords: Set<String> = [
    "a", "an", "the", "this", "that", "these", "those", "my", "our", "your", "its", "their", "me", "us",
    "i", "we", "you", "it", "he", "she", "they", "please", "pls", "can", "could", "would", "will", "should",
    "to", "for", "with", "of", "in", "on", "at", "by", "from", "into", "about", "and", "or", "but", "so",
    "is", "are", "was", "were", "be", "been", "do", "does", "did", "some", "any", "up", "out", "there",
    "here", "what", "why", "how", "when", "where", "which", "who", "just", "also", "again", "now", "hey",
    "hi", "hello", "thanks", "thank", "need", "needs", "want", "wants", "like", "into", "via", "all",
    "le", "la", "les", "un", "une", "des", "du", "de", "et", "dans", "pour", "el", "los", "las", "una",
    "y", "en", "por", "para", "der", "die", "das", "ein", "eine", "und", "im", "zu", "mit", "bitte",
    "den", "dem", "des", "beim", "il", "lo", "gli", "per", "o", "os", "um", "uma", "no", "na", "por favor", "s'il", "plaît",
]

/// A title for a session, following the rules Claude Code's own prompt gives a model: a noun phrase
/// of two to five words in sentence case, led by the most specific thing named (a file's name, an
/// identifier, an issue or pull-request number) kept verbatim, without request verbs, in the
/// session's language.
public func makeSessionTitle(_ session: String) -> String {
    var text = String(String.UnicodeScalarView(session.unicodeScalars.prefix(readLimit)))
    text = text.pythonStripped()
    if text.isEmpty { return "New session" }
    let lead = mostSpecificName(text)
    if isMostlyUnspaced(text) { return unspacedTitle(text, lead: lead) }

    let words = firstSentenceWords(text)
    var kept: [TitleWord] = []
    var droppedVerb: String?
    for (i, word) in words.enumerated() {
        let lower = word.lowercased()
        if requestVerbs.contains(lower) {
            if droppedVerb == nil { droppedVerb = lower }
            continue
        }
        if fillerWords.contains(lower) { continue }
        if word.hasPrefix("http://") || word.hasPrefix("https://") { continue }
        if let lead, sameName(word, lead.text) { continue }
        kept.append(TitleWord(text: word, verbatim: isIdentifier(word) || isProperNoun(word, first: i == 0)))
    }
    var title: [TitleWord] = []
    if let lead { title.append(TitleWord(text: lead.text, verbatim: true, count: lead.words)) }
    for word in kept where title.reduce(0, { $0 + $1.count }) < 5 { title.append(word) }
    if title.isEmpty { return "New session" }
    if title.count == 1, title[0].text.hasPrefix("#") {
        return "Issue " + title[0].text
    }
    if title.reduce(0, { $0 + $1.count }) < 2 {
        // The prompt allows a verb that carries the meaning to follow the subject as a noun.
        title.append(TitleWord(text: droppedVerb.map(nounForm) ?? "session", verbatim: false))
    }
    return sentenceCase(title)
}

private struct TitleWord {
    var text: String
    /// Identifiers, acronyms and proper nouns are kept exactly as written.
    var verbatim: Bool
    /// How many words it counts as ("repo #12" is two).
    var count = 1
}

private func sentenceCase(_ words: [TitleWord]) -> String {
    var out: [String] = []
    for (i, w) in words.enumerated() {
        if w.verbatim {
            out.append(w.text)
        } else if i == 0 {
            out.append(capitalizedFirst(w.text.lowercased()))
        } else {
            out.append(w.text.lowercased())
        }
    }
    return out.joined(separator: " ")
}

private func capitalizedFirst(_ s: String) -> String {
    guard let first = s.first else { return s }
    return first.uppercased() + s.dropFirst()
}

private func nounForm(_ verb: String) -> String {
    switch verb {
    case "fix", "fixing": return "fix"
    case "debug", "debugging": return "debugging"
    case "refactor", "refactoring": return "refactor"
    case "update", "updating": return "update"
    case "test": return "tests"
    case "review": return "review"
    default: return "session"
    }
}

// MARK: - The most specific name

private struct Name {
    var text: String
    var words: Int
}

/// The first issue or pull-request reference, file name or code identifier in the text, in the
/// short form a person would say.
private func mostSpecificName(_ text: String) -> Name? {
    let tokens = text.unicodeScalars.split(whereSeparator: { $0.properties.isWhitespace }).map { String(String.UnicodeScalarView($0)) }
    var fileOrIdentifier: Name?
    for raw in tokens {
        let token = trimmedPunctuation(raw)
        if token.isEmpty { continue }
        if let ref = issueReference(token) { return ref }
        if fileOrIdentifier == nil {
            if let file = fileName(token) {
                fileOrIdentifier = Name(text: file, words: 1)
            } else if isIdentifier(token) {
                fileOrIdentifier = Name(text: stripCallParentheses(token), words: 1)
            }
        }
    }
    return fileOrIdentifier
}

/// `#123`, or an issue/pull-request URL (`.../owner/repo/issues/12` is `repo #12`).
private func issueReference(_ token: String) -> Name? {
    let s = Array(token.unicodeScalars)
    if s.count > 1, s[0] == "#", s.dropFirst().allSatisfy({ ("0"..."9").contains($0) }) {
        return Name(text: token, words: 1)
    }
    guard token.hasPrefix("http://") || token.hasPrefix("https://") else { return nil }
    let parts = token.split(separator: "/").map(String.init)
    for (i, part) in parts.enumerated() where (part == "issues" || part == "pull" || part == "pulls") && i >= 1 && i + 1 < parts.count {
        let number = parts[i + 1].prefix { $0.isASCII && $0.isNumber }
        guard !number.isEmpty else { continue }
        return Name(text: "\(parts[i - 1]) #\(number)", words: 2)
    }
    return nil
}

/// The last component of a path, or a word that looks like a file name (`main.swift`, `README.md`).
private func fileName(_ token: String) -> String? {
    if token.hasPrefix("http://") || token.hasPrefix("https://") { return nil }
    let base = token.split(separator: "/").last.map(String.init) ?? token
    let pieces = base.split(separator: ".", omittingEmptySubsequences: false)
    guard pieces.count >= 2, let ext = pieces.last, !ext.isEmpty, ext.count <= 6,
        ext.allSatisfy({ $0.isLetter || $0.isNumber }), ext.contains(where: \.isLetter),
        let stem = pieces.first, !stem.isEmpty || pieces.count > 2
    else {
        // A bare path with no extension (`src/server`) still names a file or folder.
        if token.contains("/"), token.split(separator: "/").count >= 2, !base.isEmpty,
            base.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }), base.contains(where: \.isLetter)
        {
            return base
        }
        return nil
    }
    // `e.g.` and `v1.2` are not files.
    guard base.contains(where: \.isLetter), !(pieces.allSatisfy { $0.count <= 1 }) else { return nil }
    if pieces.dropLast().allSatisfy({ $0.allSatisfy { $0.isNumber } }) { return nil }
    return base
}

/// Code names: `snake_case`, `camelCase`, `CamelCase` with a capital inside, `name()`, `a.b`
/// member access without a file extension is left to `fileName`.
private func isIdentifier(_ word: String) -> Bool {
    let w = stripCallParentheses(word)
    guard !w.isEmpty, w.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" || $0 == "." || $0 == ":" })
    else { return false }
    if w.hasSuffix("()") || word.hasSuffix("()") { return true }
    let letters = Array(w)
    if w.contains("_") && letters.contains(where: \.isLetter) { return true }
    // An uppercase letter after a lowercase one: camelCase or CamelCase.
    for i in 1..<max(letters.count, 1) where letters[i].isUppercase && letters[i - 1].isLowercase { return true }
    // Acronyms (`HTTP`, `CI`) and names with digits (`ipv6`, `k8s`) are kept verbatim too.
    if letters.count >= 2, letters.allSatisfy({ $0.isUppercase || $0.isNumber }), letters.contains(where: \.isLetter) { return true }
    return false
}

private func stripCallParentheses(_ word: String) -> String {
    word.hasSuffix("()") ? String(word.dropLast(2)) : word
}

/// A capitalized word that does not open the sentence is taken for a name (`Redis`, `Swift`).
private func isProperNoun(_ word: String, first: Bool) -> Bool {
    guard !first, let c = word.first, c.isUppercase else { return false }
    return true
}

private func sameName(_ word: String, _ name: String) -> Bool {
    let w = stripCallParentheses(word)
    return w == name || (w.split(separator: "/").last.map(String.init) == name)
}

/// Removes quotes, backticks and sentence punctuation around a word (not inside it).
private func trimmedPunctuation(_ word: String) -> String {
    let edge: Set<Character> = ["`", "'", "\"", ",", ";", ":", "!", "?", "(", ")", "[", "]", "{", "}", "<", ">", "*", "."]
    var s = Substring(word)
    // A trailing `()` belongs to a function name.
    while let c = s.first, edge.contains(c) { s = s.dropFirst() }
    while let c = s.last, edge.contains(c), !(s.hasSuffix("()") && s.count > 2) { s = s.dropLast() }
    return String(s)
}

// MARK: - Words and scripts

/// The words of the first line that has any, cut at the end of its first sentence.
private func firstSentenceWords(_ text: String) -> [String] {
    for line in text.split(separator: "\n") {
        var words: [String] = []
        for raw in line.split(whereSeparator: { $0.isWhitespace }) {
            let token = trimmedPunctuation(String(raw))
            if !token.isEmpty { words.append(token) }
            if let last = raw.last, last == "." || last == "?" || last == "!", !isIdentifier(token), fileName(token) == nil {
                break
            }
        }
        if words.contains(where: { $0.contains(where: \.isLetter) }) { return words }
    }
    return []
}

/// Scripts written without spaces between words (Chinese, Japanese, Thai).
private func isUnspacedScalar(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x3040...0x30FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF, 0x0E00...0x0E7F: return true
    default: return false
    }
}

private func isMostlyUnspaced(_ text: String) -> Bool {
    // One such character carries about as much as a short word: weigh it against three letters.
    var unspaced = 0
    var others = 0
    for c in text.unicodeScalars.prefix(400) where c.properties.isAlphabetic {
        if isUnspacedScalar(c) { unspaced += 1 } else { others += 1 }
    }
    return unspaced > 0 && unspaced * 3 >= others
}

/// Polite request endings and openings that carry no subject, in Japanese and Chinese.
private let unspacedRequestParts = [
    "を直してください", "を修正してください", "を追加してください", "を確認してください", "を調べてください",
    "してください", "して下さい", "ください", "お願いします", "を直して", "を修正して", "を追加して", "を確認して", "を調べて",
    "请帮我", "帮我", "请", "修复一下", "修复", "检查一下", "检查", "添加", "实现",
]

/// For scripts without spaces: the first clause, without request phrases, at most 16 characters,
/// after the most specific name when there is one.
private func unspacedTitle(_ text: String, lead: Name?) -> String {
    var firstLine = text.split(separator: "\n").first.map(String.init) ?? text
    if let lead { firstLine = firstLine.replacingAll(lead.text, with: "") }
    let stops: Set<Character> = ["。", "、", "？", "！", "，", "?", "!"]
    var clause = String(firstLine.prefix { !stops.contains($0) })
    for part in unspacedRequestParts {
        clause = clause.replacingAll(part, with: "")
    }
    clause = clause.trimmingEdges { $0.isWhitespace || $0 == "を" || $0 == "の" || $0 == "`" }
    clause = String(clause.prefix(16))
    if let lead { return clause.isEmpty ? lead.text : lead.text + " " + clause }
    return clause.isEmpty ? String(firstLine.prefix(16)) : clause
}

extension String {
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }

    fileprivate func trimmingEdges(_ drop: (Character) -> Bool) -> String {
        var s = Substring(self)
        while let c = s.first, drop(c) { s = s.dropFirst() }
        while let c = s.last, drop(c) { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    /// The first occurrence of `target` (Character-wise; no Foundation).
    fileprivate func range(of target: String) -> Range<Index>? {
        let t = Array(target)
        guard !t.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            var j = i
            var k = 0
            while k < t.count, j < endIndex, self[j] == t[k] {
                j = index(after: j)
                k += 1
            }
            if k == t.count { return i..<j }
            i = index(after: i)
        }
        return nil
    }
}
