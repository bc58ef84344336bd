import ProxyConfig
import Testing

private func pairs(_ text: String) -> [String] {
    DotEnv.parse(text).map { "\($0.key)=\($0.value)" }
}

/// Expected values were taken from python-dotenv's `dotenv_values(interpolate=False)`.
@Suite struct DotEnvTests {
    @Test func basicAssignmentsAndComments() {
        let text = """
            # comment
            A=1
            export B=two words  # trailing
            C="quoted # not comment" # comment
            F=
            G
             H = spaced\u{20}
            I=a#b
            W=a=b=c

            """
        #expect(pairs(text) == ["A=1", "B=two words", "C=quoted # not comment", "F=", "H=spaced", "I=a#b", "W=a=b=c"])
    }

    @Test func singleQuotesAreLiteral() {
        #expect(DotEnv.parse(#"D='single \n literal'"#).first?.value == #"single \n literal"#)
        #expect(DotEnv.parse(#"V='a\'b'"#).first?.value == "a'b")
        #expect(DotEnv.parse(#"V='a\\b'"#).first?.value == #"a\b"#)
    }

    @Test func doubleQuotesDecodeEscapes() {
        #expect(DotEnv.parse(#"E="esc \n \" \t \\ end""#).first?.value == "esc \n \" \t \\ end")
        #expect(DotEnv.parse(#"Y="a\ab\v""#).first?.value == "a\u{07}b\u{0B}")
        // Unknown escapes stay as written.
        #expect(DotEnv.parse(#"U="\u00e9""#).first?.value == #"\u00e9"#)
        #expect(DotEnv.parse("T  =  \"  padded  \"  ").first?.value == "  padded  ")
    }

    @Test func unquotedValuesKeepBackslashesAndInnerQuotes() {
        #expect(DotEnv.parse(#"S=a\nb"#).first?.value == #"a\nb"#)
        #expect(DotEnv.parse(#"L=unquoted "mid" quote"#).first?.value == #"unquoted "mid" quote"#)
        #expect(DotEnv.parse("X=a\t#tabcomment").first?.value == "a")
        // Interpolation is not supported: the text stays.
        #expect(DotEnv.parse("R=${A}-x").first?.value == "${A}-x")
    }

    @Test func valueThatIsOnlyAComment() {
        #expect(pairs("P= # just comment\nP2=   #x") == ["P=# just comment", "P2=#x"])
    }

    @Test func multiLineQuotedValues() {
        #expect(pairs("J=\"multi\nline\"\nZ='a\nb'\nN=after") == ["J=multi\nline", "Z=a\nb", "N=after"])
    }

    @Test func badStatementsAreSkippedToEndOfLine() {
        let text = "K='it''s'\nQ=\"x\" junk\nNOEQ junk\n#=x\nA B=1\nOK=yes\n"
        #expect(pairs(text) == ["OK=yes"])
        // An unterminated quote runs on to the next quote, as python-dotenv does,
        // and the statement fails where junk follows it.
        #expect(pairs("M=\"unterminated\nN=after\nQ=\"x\" junk\nLAST=1") == ["LAST=1"])
        #expect(pairs("M=\"never closed\nN=1") == ["N=1"])
    }

    @Test func exportPrefixAndQuotedKeys() {
        #expect(pairs("export  EX=1\nexportX=2\n'O'=quotedkey\nexport=3") == ["EX=1", "exportX=2", "O=quotedkey", "export=3"])
    }

    @Test func lineEndings() {
        #expect(pairs("A=1\r\nB=2\rC=\"x\"\r\n") == ["A=1", "B=2", "C=x"])
    }

    @Test func laterDuplicatesAreReturnedInOrder() {
        #expect(pairs("A=1\nA=2") == ["A=1", "A=2"])
        #expect(pairs("") == [])
        #expect(pairs("\n\n  \n# only comments\n") == [])
    }
}
