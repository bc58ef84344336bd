import JSON
import Testing
@testable import StreamTranslation

// Ported from the reference's tests/test_parsers.py, plus edge cases.

private func texts(_ segments: [ThinkTagParser.Segment], _ kind: ThinkTagParser.Kind) -> String {
    segments.filter { $0.kind == kind }.map(\.content).joined()
}

private func params(_ pairs: KeyValuePairs<String, String>) -> JSONObject {
    JSONObject(pairs.map { ($0.key, JSONValue.string($0.value)) })
}

@Suite struct ThinkTagParserTests {
    @Test func basic() {
        var p = ThinkTagParser()
        #expect(p.feed("Hello <think>reasoning</think> world") == [
            .init(.text, "Hello "), .init(.thinking, "reasoning"), .init(.text, " world"),
        ])
    }

    @Test func partialTagAcrossChunks() {
        var p = ThinkTagParser()
        #expect(p.feed("Hello <thi") == [.init(.text, "Hello ")])
        #expect(p.feed("nk>reasoning</think>") == [.init(.thinking, "reasoning")])
    }

    @Test func partialInterleavedStreaming() {
        var p = ThinkTagParser()
        #expect(p.feed("<think>Part 1") == [.init(.thinking, "Part 1")])
        let second = p.feed(" ends</think> ● <func")
        #expect(second == [.init(.thinking, " ends"), .init(.text, " ● <func")])
    }

    @Test func orphanCloseTagIsStripped() {
        var p = ThinkTagParser()
        #expect(p.feed("Hello </think> world") == [.init(.text, "Hello "), .init(.text, " world")])
        var q = ThinkTagParser()
        #expect(q.feed("</think>Hello world") == [.init(.text, "Hello world")])
        var r = ThinkTagParser()
        #expect(r.feed("Hello world</think>") == [.init(.text, "Hello world")])
    }

    @Test(arguments: [
        ("Hello </think> world", "Hello  world"), ("</think>Hello world", "Hello world"),
        ("Hello world</think>", "Hello world"), ("a</think>b</think>c", "abc"), ("</think>", ""),
        ("</think></think>", ""),
    ])
    func orphanCloseTagPositions(input: String, expected: String) {
        var p = ThinkTagParser()
        let out = texts(p.feed(input), .text)
        #expect(out == expected)
        #expect(!out.contains("</think>"))
    }

    @Test func orphanCloseTagStreaming() {
        var p = ThinkTagParser()
        #expect(p.feed("Hello </thi") == [.init(.text, "Hello ")])
        #expect(p.feed("nk> world") == [.init(.text, " world")])
    }

    @Test func orphanCloseThenValidPair() {
        var p = ThinkTagParser()
        let out = p.feed("a</think>b<think>thinking</think>c")
        #expect(texts(out, .text) == "abc")
        #expect(texts(out, .thinking) == "thinking")
    }

    @Test func emptyInputAndFlush() {
        var p = ThinkTagParser()
        #expect(p.feed("") == [])
        #expect(p.flush() == nil)
    }

    @Test func flushBufferedText() {
        var p = ThinkTagParser()
        _ = p.feed("Hello <thi")
        #expect(p.flush() == .init(.text, "<thi"))
        #expect(p.flush() == nil)
    }

    @Test func flushInsideThink() {
        var p = ThinkTagParser()
        #expect(p.feed("<think>partial reasoning</thi") == [.init(.thinking, "partial reasoning")])
        #expect(p.flush() == .init(.thinking, "</thi"))
    }

    @Test func emptyThinkPair() {
        var p = ThinkTagParser()
        #expect(p.feed("<think></think>remaining") == [.init(.text, "remaining")])
    }

    @Test func unicode() {
        var p = ThinkTagParser()
        let out = p.feed("日本語 <think>思考中 🤔</think> 結果")
        #expect(texts(out, .thinking) == "思考中 🤔")
        #expect(texts(out, .text) == "日本語  結果")
    }

    @Test func everySplitPointGivesTheSameContent() {
        let full = "a<think>b🤔c</think>d</think>e<th"
        for i in 0...full.unicodeScalars.count {
            let scalars = Array(full.unicodeScalars)
            var p = ThinkTagParser()
            var out = p.feed(String(String.UnicodeScalarView(scalars[..<i])))
            out += p.feed(String(String.UnicodeScalarView(scalars[i...])))
            if let rest = p.flush() { out.append(rest) }
            #expect(texts(out, .text) == "ade<th", "split at \(i)")
            #expect(texts(out, .thinking) == "b🤔c", "split at \(i)")
        }
    }

    @Test func lessThanThatCannotBeATagPassesThrough() {
        var p = ThinkTagParser()
        #expect(p.feed("a < b <x") == [.init(.text, "a < b <x")])
        #expect(p.flush() == nil)
    }
}

@Suite struct HeuristicToolParserTests {
    private func run(_ chunks: [String]) -> (text: String, calls: [HeuristicToolCall]) {
        var p = HeuristicToolParser()
        var text = "", calls: [HeuristicToolCall] = []
        for c in chunks {
            let r = p.feed(c)
            text += r.text
            calls += r.calls
        }
        let r = p.flush()
        return (text + r.text, calls + r.calls)
    }

    @Test func basic() {
        let r = run(["Let's call a tool. ● <function=Grep><parameter=pattern>hello</parameter><parameter=path>.</parameter>"])
        #expect(r.text.contains("Let's call a tool."))
        #expect(r.calls == [HeuristicToolCall(name: "Grep", input: params(["pattern": "hello", "path": "."]))])
    }

    @Test func streaming() {
        var p = HeuristicToolParser()
        #expect(p.feed("● <function=Write>").calls.isEmpty)
        #expect(p.feed("<parameter=path>test.txt</parameter>").calls.isEmpty)
        let third = p.feed("\nDone.")
        #expect(third.calls == [HeuristicToolCall(name: "Write", input: params(["path": "test.txt"]))])
        #expect(third.text == "\nDone.")
    }

    @Test func flushCompletesAPartialParameter() {
        var p = HeuristicToolParser()
        _ = p.feed("● <function=Bash><parameter=command>ls -la")
        #expect(p.flush().calls == [HeuristicToolCall(name: "Bash", input: params(["command": "ls -la"]))])
        var q = HeuristicToolParser()
        _ = q.feed("● <function=Recover><parameter=msg>hello")
        #expect(q.flush().calls.first?.input["msg"] == "hello")
    }

    @Test func stripsControlTokens() {
        let r = run(["Hello <|tool_call_end|> world"])
        #expect(r.text == "Hello  world")
        #expect(r.calls.isEmpty)
    }

    @Test func stripsControlTokensSplitAcrossChunks() {
        var p = HeuristicToolParser()
        let first = p.feed("Hello <|tool_call_")
        #expect(first.text == "Hello ")
        let second = p.feed("end|> world")
        #expect(first.text + second.text == "Hello  world")
        #expect(p.flush().text == "")
    }

    @Test func stripsControlTokensInsideToolText() {
        let r = run(["Before <|tool_calls_section_end|> ● <function=Grep><parameter=pattern>hi</parameter> After"])
        #expect(!r.text.contains("<|"))
        #expect(r.text.contains("Before") && r.text.contains("After"))
        #expect(r.calls == [HeuristicToolCall(name: "Grep", input: params(["pattern": "hi"]))])
    }

    @Test func interleavedWithThinking() {
        var think = ThinkTagParser()
        let segments = think.feed("<think>I need to search for a file.</think> ● <function=Grep><parameter=pattern>test</parameter>")
        #expect(texts(segments, .thinking) == "I need to search for a file.")
        let r = run([texts(segments, .text)])
        #expect(r.calls == [HeuristicToolCall(name: "Grep", input: params(["pattern": "test"]))])
    }

    @Test func partialInterleavedStreaming() {
        var think = ThinkTagParser()
        var tools = HeuristicToolParser()
        _ = think.feed("<think>Part 1")
        let second = think.feed(" ends</think> ● <func")
        #expect(tools.feed(texts(second, .text)).calls.isEmpty)
        let third = think.feed("tion=Read><parameter=path>test.py</parameter>")
        var calls = tools.feed(texts(third, .text)).calls
        calls += tools.flush().calls
        #expect(calls == [HeuristicToolCall(name: "Read", input: params(["path": "test.py"]))])
    }

    @Test func everySplitOfOneCall() {
        let full = Array("● <function=Test><parameter=arg>val</parameter>".unicodeScalars)
        for i in 0..<full.count {
            let r = run([String(String.UnicodeScalarView(full[..<i])), String(String.UnicodeScalarView(full[i...]))])
            #expect(r.calls == [HeuristicToolCall(name: "Test", input: params(["arg": "val"]))], "split at \(i)")
        }
    }

    @Test func everySplitOfTwoParameters() {
        let full = Array("● <function=Test><parameter=p1>v1</parameter><parameter=p2>v2</parameter>".unicodeScalars)
        for i in 0..<full.count {
            let r = run([String(String.UnicodeScalarView(full[..<i])), String(String.UnicodeScalarView(full[i...]))])
            #expect(r.calls.count == 1, "split at \(i)")
            #expect(r.calls.first?.input == params(["p1": "v1", "p2": "v2"]), "split at \(i)")
        }
    }

    @Test func valueWithGreaterThan() {
        #expect(run(["● <function=Test><parameter=arg>a > b</parameter>"]).calls.first?.input["arg"] == "a > b")
    }

    @Test func garbageInterleaved() {
        let r = run(["Some text ", "● <function=T1><parameter=x>1</parameter>", " more text ",
                     "● <function=T2><parameter=y>2</parameter>"])
        #expect(r.calls.map(\.name) == ["T1", "T2"])
    }

    @Test func textBetweenParametersIsKept() {
        let r = run(["● <function=F> text1 <parameter=a>1</parameter> text2 <parameter=b>2</parameter>"])
        #expect(r.text.contains("text1") && r.text.contains("text2"))
        #expect(r.calls.first?.input == params(["a": "1", "b": "2"]))
    }

    @Test func emptyInputAndPlainText() {
        var p = HeuristicToolParser()
        #expect(p.feed("").text == "")
        #expect(p.feed("plain text").text == "plain text")
        #expect(p.flush().calls.isEmpty)
    }

    @Test func unicodeValue() {
        let r = run(["● <function=Search><parameter=query>日本語テスト</parameter>"])
        #expect(r.calls == [HeuristicToolCall(name: "Search", input: params(["query": "日本語テスト"]))])
    }

    @Test(arguments: ["● <function=>", "● <function=><parameter=x>v</parameter>"])
    func emptyFunctionNameIsText(input: String) {
        let r = run([input])
        #expect(r.calls.isEmpty)
        #expect(r.text == input)
    }

    // MARK: Reference defects, fixed

    @Test func shortBulletListIsKept() {
        // The reference waits for `<function=` after every `●` and drops the text at the end.
        let r = run(["Steps:\n● one\n", "● two"])
        #expect(r.text == "Steps:\n● one\n● two")
        #expect(r.calls.isEmpty)
    }

    @Test func textAfterAnUnterminatedControlTokenIsKept() {
        // The reference holds everything after `<|` until `|>` and loses it at the end.
        var p = HeuristicToolParser()
        let first = p.feed("x <| y")
        let second = p.feed(" and more text")
        // Still a possible token (no `|`/`>`, under 80 characters): held, then flushed.
        #expect(first.text + second.text == "x ")
        #expect(p.flush().text == "<| y and more text")
        // Once it can no longer be a token it is released at once.
        var r = HeuristicToolParser()
        let long = String(repeating: "w", count: 81)
        #expect(r.feed("a <|b").text == "a ")
        #expect(r.feed(long).text == "<|b" + long)
        var s = HeuristicToolParser()
        #expect(s.feed("a <|b> c").text == "a <|b> c")
        var q = HeuristicToolParser()
        #expect(q.feed("tail <|par").text == "tail ")
        #expect(q.flush().text == "<|par")
    }

    @Test func consecutiveCallsInConsecutiveChunks() {
        // The reference merged T2's parameters into T1 and leaked "● <function=T2>" as text.
        let r = run(["● <function=T1><parameter=x>1</parameter>", "● <function=T2><parameter=y>2</parameter>"])
        #expect(r.text == "")
        #expect(r.calls == [HeuristicToolCall(name: "T1", input: params(["x": "1"])),
                            HeuristicToolCall(name: "T2", input: params(["y": "2"]))])
    }

    @Test func bulletInsideAParameterValueBelongsToTheValue() {
        let r = run(["● <function=Write><parameter=content>● a", "\n● b</parameter>"])
        #expect(r.calls == [HeuristicToolCall(name: "Write", input: params(["content": "● a\n● b"]))])
    }

    @Test func closingFunctionTagEndsTheCall() {
        let r = run(["● <function=Grep><parameter=pattern>x</parameter></function>\nDone"])
        #expect(r.text == "\nDone")
        #expect(r.calls.map(\.name) == ["Grep"])
    }

    @Test func controlTokenStripIsSinglePass() {
        #expect(HeuristicToolParser.strippingControlTokens(Array("<|<|a|>|>".unicodeScalars)).string == "<||>")
        let long = "<|" + String(repeating: "a", count: 81) + "|>"
        #expect(HeuristicToolParser.strippingControlTokens(Array(long.unicodeScalars)).string == long)
    }
}
