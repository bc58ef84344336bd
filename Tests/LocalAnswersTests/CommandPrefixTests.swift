import Testing

@testable import LocalAnswers

@Suite struct CommandPrefixTests {
    /// The reference's own cases (tests/test_request_utils.py), all kept.
    @Test(arguments: [
        ("git status", "git status"),
        ("ls -la", "ls"),
        ("git commit -m 'message'", "git commit"),
        ("git commit -m 'msg'", "git commit"),
        ("npm install package", "npm install"),
        ("npm install pkg", "npm install"),
        ("docker run image", "docker run"),
        ("kubectl get pods", "kubectl get"),
        ("git -v", "git"),
        ("npm --version", "npm"),
        ("DEBUG=1 python script.py", "DEBUG=1 python"),
        ("API_KEY=secret node app.js", "API_KEY=secret node"),
        ("ls", "ls"),
        ("python", "python"),
        ("make", "make"),
        ("`whoami`", "command_injection_detected"),
        ("$(whoami)", "command_injection_detected"),
        ("echo $(cat /etc/passwd)", "command_injection_detected"),
        ("", "none"),
        ("   ", "none"),
        ("git log --oneline --graph", "git log"),
        ("git checkout -b feature-branch", "git checkout"),
        ("cargo build", "cargo build"),
        ("cargo test", "cargo test"),
        ("cargo --version", "cargo"),
        // Unterminated quote: shlex raises, the fallback is the first whitespace word.
        ("git commit -m 'unterminated", "git"),
        ("cat file.txt | grep pattern", "cat"),
    ])
    func referenceCases(command: String, expected: String) {
        #expect(extractCommandPrefix(command) == expected)
    }

    /// Further inputs run through the reference's function, same answers.
    @Test(arguments: [
        ("FOO=1", "none"),
        ("FOO=1 BAR=2", "none"),
        ("echo \"$(whoami)\"", "command_injection_detected"),
        ("echo \"`id`\"", "command_injection_detected"),
        ("echo $'\\'' $(id)", "command_injection_detected"),
        ("echo \\' $(id) \\'", "command_injection_detected"),
        ("echo '$(id)", "command_injection_detected"),
        ("echo \\$(id)", "command_injection_detected"),
        ("pip install -r req.txt", "pip install"),
        ("yarn", "yarn"),
        ("go", "go"),
        ("-x=1 ls", "-x=1"),
        ("\"FOO=1\" ls", "\"FOO=1\" ls"),
        ("FOO=1 'unterminated", "FOO=1"),
        ("ünïcode arg", "ünïcode"),
        // startswith("-") and "=" in part work on code points in Python.
        ("-\u{301}x=1 ls", "-\u{301}x=1"),
        ("A=\u{301} ls", "A=\u{301} ls"),
        ("git -\u{301}v", "git"),
    ])
    func sameAsReference(command: String, expected: String) {
        #expect(extractCommandPrefix(command) == expected)
    }

    /// The reference dropped the assignments before a two-word program
    /// (it answered `git commit`, `go test`, `git`).
    @Test(arguments: [
        ("FOO=1 git commit -m x", "FOO=1 git commit"),
        ("FOO=1 BAR=2 go test ./...", "FOO=1 BAR=2 go test"),
        ("GOEXPERIMENT=synctest go test -v ./...", "GOEXPERIMENT=synctest go test"),
        ("FOO=1 git -v", "FOO=1 git"),
    ])
    func assignmentsKeptBeforeTwoWordPrograms(command: String, expected: String) {
        #expect(extractCommandPrefix(command) == expected)
    }

    /// The reference flagged these as injection; inside single quotes bash runs nothing.
    @Test(arguments: [
        ("echo '$(whoami)'", "echo"),
        ("echo 'a `b` c'", "echo"),
        ("git commit -m 'use $(x) and `y` literally'", "git commit"),
        ("printf $'a\\'$(b)'", "printf"),
        ("echo \\\\'$(x)'", "echo"),
    ])
    func singleQuotedSubstitutionIsLiteral(command: String, expected: String) {
        #expect(extractCommandPrefix(command) == expected)
    }

    @Test(arguments: [
        ("echo \"it's $(id)\"", true),  // a single quote inside double quotes opens nothing
        ("echo \"a\\\"b $(id)\"", true),  // an escaped double quote does not close
        ("echo 'a' $(id)", true),
        ("echo 'a' \"`id`\"", true),
        ("echo $'a\\'b' $(id)", true),  // `\'` does not close an ANSI-C string
        ("echo '$(id)' \"$(id)\"", true),
        ("echo '$(id)' '`id`'", false),
        ("echo $(( 1 + 2 ))", true),
        ("echo ${HOME}", false),
        ("echo hi", false),
    ])
    func substitutionScanner(command: String, expected: Bool) {
        #expect(hasCommandSubstitution(command) == expected)
    }
}

@Suite struct FilepathExtractionTests {
    private static let none = "<filepaths>\n</filepaths>"

    /// The reference's cases (tests/test_request_utils_filepaths_and_suggestions.py), plus
    /// more inputs on which the reference gives the same answer.
    @Test(arguments: [
        ("ls -la", none),
        ("dir .", none),
        ("cat foo.txt", "<filepaths>\nfoo.txt\n</filepaths>"),
        ("cat -n foo.txt bar.md", "<filepaths>\nfoo.txt\nbar.md\n</filepaths>"),
        ("type C:\\tmp\\a.txt", "<filepaths>\nC:\\tmp\\a.txt\n</filepaths>"),
        ("grep pattern file1.txt file2.txt", "<filepaths>\nfile1.txt\nfile2.txt\n</filepaths>"),
        ("grep -n pattern file.txt", "<filepaths>\nfile.txt\n</filepaths>"),
        ("grep -e pattern file.txt", "<filepaths>\nfile.txt\n</filepaths>"),
        ("unknowncmd arg1 arg2", none),
        ("", none),
        ("/bin/cat x.txt", "<filepaths>\nx.txt\n</filepaths>"),
        ("CAT X.TXT", "<filepaths>\nX.TXT\n</filepaths>"),
        ("grep -A 3 foo a.py b.py", "<filepaths>\na.py\nb.py\n</filepaths>"),
        ("grep -rn TODO src", "<filepaths>\nsrc\n</filepaths>"),
        ("grep -e a -e b f.txt", "<filepaths>\nf.txt\n</filepaths>"),
        ("cat 'unterminated", none),
        ("head -20 f.txt", "<filepaths>\nf.txt\n</filepaths>"),
        ("find . -name '*.swift'", none),
    ])
    func referenceCases(command: String, expected: String) {
        #expect(extractFilepaths(command: command, output: "(ignored)") == expected)
    }

    /// The reference reported operators, the next command and option values as paths
    /// (e.g. `head -n 20 file.txt` gave `20` and `file.txt`; `cat foo.txt | grep x` gave
    /// `foo.txt`, `|`, `grep`, `x`) and kept quotes around quoted paths.
    @Test(arguments: [
        ("head -n 20 file.txt", "<filepaths>\nfile.txt\n</filepaths>"),
        ("tail -n 5 log.txt", "<filepaths>\nlog.txt\n</filepaths>"),
        ("head -c 100 a.bin", "<filepaths>\na.bin\n</filepaths>"),
        ("tail -f log.txt &", "<filepaths>\nlog.txt\n</filepaths>"),
        ("cat foo.txt | grep x", "<filepaths>\nfoo.txt\n</filepaths>"),
        ("cat a.txt|wc -l", "<filepaths>\na.txt\n</filepaths>"),
        ("cat a.txt > b.txt", "<filepaths>\na.txt\n</filepaths>"),
        ("cat a.txt >> out.txt", "<filepaths>\na.txt\n</filepaths>"),
        ("cat a.txt 2>/dev/null", "<filepaths>\na.txt\n</filepaths>"),
        ("cat a.txt 2>&1", "<filepaths>\na.txt\n</filepaths>"),
        ("cat a.txt; rm b", "<filepaths>\na.txt\n</filepaths>"),
        ("cat a && cat b", "<filepaths>\na\n</filepaths>"),
        ("cat a || true", "<filepaths>\na\n</filepaths>"),
        ("cat < in.txt", "<filepaths>\nin.txt\n</filepaths>"),
        ("cat <in.txt", "<filepaths>\nin.txt\n</filepaths>"),
        ("cat <<EOF", none),
        ("less -p pat file.txt", "<filepaths>\nfile.txt\n</filepaths>"),
        ("bat -l rust main.rs", "<filepaths>\nmain.rs\n</filepaths>"),
        ("cat 'my file.txt'", "<filepaths>\nmy file.txt\n</filepaths>"),
        ("cat \"x y.md\"", "<filepaths>\nx y.md\n</filepaths>"),
        ("cat \"a|b.txt\" | wc", "<filepaths>\na|b.txt\n</filepaths>"),
        ("grep --include '*.py' -r foo .", "<filepaths>\n.\n</filepaths>"),
        ("grep -m 1 --regexp x f.txt | head", "<filepaths>\nf.txt\n</filepaths>"),
        ("cat | grep x", none),
    ])
    func operatorsAndOptionValuesAreNotPaths(command: String, expected: String) {
        #expect(extractFilepaths(command: command, output: "") == expected)
    }
}
