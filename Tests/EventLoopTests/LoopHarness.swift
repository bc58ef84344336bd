import CLibUV
import EventLoop
import Testing

/// Runs a scenario on a fresh loop until every handle it opened is closed, then proves that nothing
/// leaked by closing the loop (libuv's MAKE_VALGRIND_HAPPY). An unreferenced watchdog stops a hung
/// scenario instead of hanging the suite.
func withLoop(timeoutMs: UInt64 = 10_000,
              sourceLocation: SourceLocation = #_sourceLocation,
              _ body: (EventLoop) throws -> Void) throws {
    let loop = try EventLoop()
    let watchdog = try Timer(loop: loop)
    var timedOut = false
    try watchdog.start(afterMs: timeoutMs) {
        timedOut = true
        loop.stop()
    }
    watchdog.unref()
    try body(loop)
    loop.run()
    #expect(!timedOut, "scenario did not finish; open: \(loop.openHandleDescriptions)", sourceLocation: sourceLocation)
    watchdog.close()
    if timedOut { return }
    try loop.close()
}
