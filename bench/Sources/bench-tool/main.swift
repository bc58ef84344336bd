// bench-tool: the Swift side of bench/run.sh.
//
//   bench-tool streams  --port P [--host H] [--method POST] [--path /v1/messages] [--header 'K: V']...
//                       [--body-file F] [--streams N] [--concurrency C] [--connect-burst B]
//                       [--timeout-s S] [--marker TEXT]
//   bench-tool startup  --port P [--idle-ms 1000] [--timeout-s 10] -- COMMAND ARGS...
//   bench-tool tokenize --text-file F [--seconds 3]
//   bench-tool passthrough --port P --upstream BASE_URL [--model M] [--key K]
//                       serves POST /v1/messages through AnthropicPassthrough alone until SIGTERM
//
// Each prints one JSON object on stdout.

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: bench-tool streams|startup|tokenize ...") }
let flags = Flags(arguments[2...])
switch arguments[1] {
case "streams": runStreamLoad(flags)
case "startup": runStartupProbe(flags)
case "tokenize": runTokenizeBench(flags)
case "passthrough": runPassthroughServer(flags)
default: fail("unknown command \(arguments[1])")
}
