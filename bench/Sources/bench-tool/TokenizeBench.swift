// tokenize: cl100k_base encoding throughput of the project's Tokenizer on one thread, over the same
// text that bench/tiktoken_bench.py gives Python's tiktoken.

import Tokenizer

func runTokenizeBench(_ flags: Flags) {
    guard let path = flags.optional("text-file") else { fail("tokenize needs --text-file") }
    let seconds = flags.double("seconds", 3)
    let text = String(decoding: readFileOrFail(path), as: UTF8.self)
    let tokenizer = CL100KTokenizer.shared
    // First pass outside the clock: loads the ranks and warms caches, as tiktoken's first call does.
    let tokens = tokenizer.encode(text).count
    let budget = UInt64(seconds * 1e6)
    var iterations = 0
    let startedAt = monotonicMicros()
    var elapsed: UInt64 = 0
    repeat {
        let count = tokenizer.encode(text).count
        precondition(count == tokens, "tokenizer is not deterministic")
        iterations += 1
        elapsed = monotonicMicros() - startedAt
    } while elapsed < budget || iterations < 3
    let bytesPerSecond = Double(text.utf8.count * iterations) / (Double(elapsed) / 1e6)
    var line = JSONLine()
    line.add("bytes", text.utf8.count)
    line.add("tokens", tokens)
    line.add("iterations", iterations)
    line.add("mb_per_s", bytesPerSecond / 1e6)
    line.add("tokens_per_s", Double(tokens * iterations) / (Double(elapsed) / 1e6))
    writeAll(line.text + "\n", to: 1)
}
