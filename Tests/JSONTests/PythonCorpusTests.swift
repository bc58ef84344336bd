import JSON
import TestSupport
import Testing

/// Expected outputs written by `scripts/gen_json_cases.py` from Python's json module.
private func loadJSON(_ name: String, in directory: Fixture.Directory = .target) throws -> JSONValue {
    try JSONValue.parse(Fixture.bytes(name, in: directory))
}

private func containsNonFinite(_ value: JSONValue) -> Bool {
    switch value {
    case .double(let d): return !d.isFinite
    case .array(let elements): return elements.contains(where: containsNonFinite)
    case .object(let object): return object.entries.contains { containsNonFinite($0.value) }
    default: return false
    }
}

@Suite struct PythonCorpusTests {
    @Test func pythonDumpsMatchesCorpus() throws {
        let corpus = try loadJSON("python_dumps_cases.json")
        let cases = try #require(corpus["cases"]?.arrayValue)
        #expect(cases.count > 500)
        for testCase in cases {
            let name = try #require(testCase["name"]?.stringValue)
            let input = try #require(testCase["input"]?.stringValue)
            let expected = try #require(testCase["dumps"]?.stringValue)
            let value = try JSONValue.parse(input)
            #expect(value.pythonDumps() == expected, "\(name)")
            // Infinities (from overflowing literals) have no JSON spelling and compact to null.
            if !containsNonFinite(value) {
                let compact = value.compactString()
                #expect(try JSONValue.parse(compact) == value, "\(name): \(compact)")
            }
        }
    }

    @Test func pythonDumpsMatchesRecordedRequests() throws {
        let expected = try #require(try loadJSON("python_dumps_fixtures.json").objectValue)
        #expect(expected.count == 7)
        for entry in expected {
            let fixture = try loadJSON("claude-cli-2.1.332/\(entry.key)", in: .shared)
            let body = try #require(fixture["body"])
            #expect(body.pythonDumps() == entry.value.stringValue, "\(entry.key)")
            #expect(try JSONValue.parse(body.compactBytes()) == body, "\(entry.key)")
            #expect(try JSONValue.parse(body.pythonDumpsBytes()) == body, "\(entry.key)")
        }
    }
}
