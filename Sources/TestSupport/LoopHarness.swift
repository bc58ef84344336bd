// The loop runner every loop test uses: a fresh loop per scenario, a watchdog against hangs,
// and proof at the end that no handle leaked.

import EventLoop
import Testing

/// How a scenario run by `runLoop` ended.
public struct LoopRun {
    public var timedOut: Bool
    /// Handles still open at the end (those open when the watchdog fired, after a timeout).
    public var leakedHandles: [String]

    /// Records a test issue for a hang or a leak.
    public func expectClean(sourceLocation: SourceLocation = #_sourceLocation) {
        if timedOut {
            Issue.record("scenario did not finish; open: \(leakedHandles)", sourceLocation: sourceLocation)
        } else if !leakedHandles.isEmpty {
            Issue.record("leaked: \(leakedHandles)", sourceLocation: sourceLocation)
        }
    }
}

/// Runs `body` on a fresh loop until every handle closed, then closes the loop, which fails
/// if anything leaked (libuv's MAKE_VALGRIND_HAPPY). A watchdog that does not keep the loop
/// alive stops a hung scenario after `timeout`; the result says whether that happened.
public func runLoop(timeout: Duration = .seconds(20), _ body: (EventLoop) throws -> Void) throws -> LoopRun {
    let loop = try EventLoop()
    let watchdog = try Timer(loop: loop)
    var timedOut = false
    try watchdog.start(after: timeout) {
        timedOut = true
        loop.stop()
    }
    watchdog.unref()
    try body(loop)
    loop.run()
    watchdog.close()
    if timedOut {
        return LoopRun(timedOut: true, leakedHandles: loop.openHandleDescriptions)
    }
    // Let close callbacks run, then prove the loop is empty.
    _ = loop.runOnce(wait: false)
    let open = loop.openHandleDescriptions
    do {
        try loop.close()
    } catch {
        return LoopRun(timedOut: false, leakedHandles: open.isEmpty ? ["loop.close failed: \(error)"] : open)
    }
    return LoopRun(timedOut: false, leakedHandles: [])
}

/// `runLoop`, failing the test on a hang or a leaked handle.
public func withLoop(timeout: Duration = .seconds(20), sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: (EventLoop) throws -> Void) throws {
    try runLoop(timeout: timeout, body).expectClean(sourceLocation: sourceLocation)
}
