import Foundation
import Synchronization
import EventLoop
import JSON
@testable import NIMProvider
import ProxyConfig
import App
import RateLimit
import ScriptedUpstream
import TestSupport
import Testing

/// A value several loops' threads read and write.
private final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ initial: Value) { value = Mutex(initial) }
    var current: Value { value.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { value.withLock { body(&$0) } }
}

/// Runs each body on a thread of its own (each runs a loop) and waits for all of them.
private func onThreads(_ bodies: [@Sendable () -> Void]) {
    let group = DispatchGroup()
    for body in bodies {
        group.enter()
        let thread = Thread {
            body()
            group.leave()
        }
        thread.start()
    }
    group.wait()
}

/// What the upstream on its own loop saw.
private struct UpstreamCounts: Sendable {
    var requests = 0
    var mostStreamsAtOnce = 0
}

/// A scripted upstream on its own thread for proxies on other loops: `"scenario:slow"` answers in
/// five chunks 20 ms apart, `"scenario:hang"` never ends. `stop` ends it once the proxies are done.
private final class UpstreamThread: Sendable {
    let ready = DispatchSemaphore(value: 0)
    let port = Shared(0)
    let stopper = Shared<AsyncWakeup.Sender?>(nil)
    let counts = Shared(UpstreamCounts())
    let clean = Shared(false)

    var body: @Sendable () -> Void {
        { [self] in
            let run = try? runLoop(timeout: .seconds(30)) { loop in
                let upstream = ScriptedUpstream(loop: loop)
                upstream.namedScenarios["slow"] = .synthetic(chunkCount: 5, chunkBytes: 16, delayMs: 20)
                upstream.onRequest = { [counts, unowned upstream] _ in
                    // Called before the new stream is counted.
                    let now = upstream.activeStreams + 1
                    counts.update {
                        $0.requests += 1
                        $0.mostStreamsAtOnce = max($0.mostStreamsAtOnce, now)
                    }
                }
                let bound = try upstream.start()
                var stop: AsyncWakeup?
                stop = try AsyncWakeup(loop: loop) {
                    stop?.close()
                    upstream.shutdown {}
                }
                stopper.update { $0 = stop!.sender }
                port.update { $0 = bound }
                ready.signal()
            }
            clean.update { $0 = run.map { !$0.timedOut && $0.leakedHandles.isEmpty } ?? false }
        }
    }

    func stop() { stopper.current?.send() }

    /// Returns once the upstream listens (at once for every later caller).
    func waitUntilReady() {
        ready.wait()
        ready.signal()
    }
}

/// One proxy (server and provider) on the calling thread's loop, using `admissions`.
private final class ProxyOnLoop {
    let loop: EventLoop
    let app: ProxyApp
    let provider: NIMProvider
    let port: Int

    init(loop: EventLoop, upstreamPort: Int, model: String, admissions: ProviderAdmissions, configure: (inout Settings) -> Void) throws {
        self.loop = loop
        let s = proxySettings(upstreamPort: upstreamPort, model: model, configure)
        app = ProxyApp(loop: loop, settings: s, log: .silent)
        provider = try NIMProvider(loop: loop, settings: s, log: .silent, random: { 0 }, retry: Harness.fastRetry, admissions: admissions)
        app.streamer = provider
        port = try app.start()
    }

    func post(_ completion: @escaping (TestResponse?) -> Void) {
        LoopHTTPClient.fetch(loop, port: port, method: "POST", path: "/v1/messages",
                             headers: [("Content-Type", "application/json")], body: Array(simpleRequest.utf8), completion)
    }

    func shutdown(then: @escaping () -> Void = {}) {
        app.shutdown(timeout: .milliseconds(500)) { [self] in
            provider.close()
            then()
        }
    }
}

private func proxySettings(upstreamPort: Int, model: String = "scenario:text", _ configure: (inout Settings) -> Void) -> Settings {
    var s = Settings()
    s.http.host = "127.0.0.1"
    s.http.port = 0
    s.upstream.baseURL = "http://127.0.0.1:\(upstreamPort)/v1"
    s.upstream.apiKey = "test-key"
    s.upstream.model = model
    configure(&s)
    return s
}

/// What a proxy loop's thread reports back.
private struct LoopReport: Sendable {
    var statuses: [Int] = []
    var texts: [String] = []
    var clean = false
}

private func record(_ r: TestResponse?, into report: Shared<LoopReport>) {
    report.update {
        $0.statuses.append(r?.status ?? -1)
        $0.texts.append(AnswerSummary(parseAnthropicSSE(r?.body ?? []).events).text)
    }
}

/// Two loops on their own threads, each posting `clientsPerLoop` streams of `model` through its own
/// proxy sharing `admissions`, with the upstream on a third; each loop's report once all have ended.
private func burstOnTwoLoops(
    _ upstream: UpstreamThread, model: String, clientsPerLoop: Int, admissions: ProviderAdmissions,
    configure: @escaping @Sendable (inout Settings) -> Void, prepare: @escaping @Sendable (ProxyOnLoop) -> Void = { _ in }
) -> [LoopReport] {
    let reports = [Shared(LoopReport()), Shared(LoopReport())]
    let proxies: [@Sendable () -> Void] = reports.map { report in
        {
            upstream.waitUntilReady()
            let run = try? runLoop(timeout: .seconds(20)) { loop in
                let proxy = try ProxyOnLoop(loop: loop, upstreamPort: upstream.port.current, model: model,
                                            admissions: admissions, configure: configure)
                prepare(proxy)
                var answered = 0
                for _ in 0..<clientsPerLoop {
                    proxy.post { r in
                        record(r, into: report)
                        answered += 1
                        if answered == clientsPerLoop { proxy.shutdown() }
                    }
                }
            }
            report.update { $0.clean = run.map { !$0.timedOut && $0.leakedHandles.isEmpty } ?? false }
        }
    }
    onThreads([upstream.body, {
        onThreads(proxies)
        upstream.stop()
    }])
    return reports.map(\.current)
}

/// Two event loops on two threads, each with its own `NIMProvider`, sharing one set of admissions
/// (as the server's worker loops do) and one upstream on a third loop.
@Suite struct SharedAdmissionLoopTests {
    /// A burst on both loops: across both, no window holds more grants than the limit, and every
    /// request is answered. (With a window per loop each would grant the limit at once.)
    @Test func bothLoopsTogetherNeverExceedTheWindow() throws {
        let upstream = UpstreamThread()
        let configure: @Sendable (inout Settings) -> Void = {
            $0.upstream.rateLimit = 3
            $0.upstream.rateWindow = .milliseconds(600)
        }
        let admissions = try ProviderAdmissions.makeAll(settings: proxySettings(upstreamPort: 1, configure))
        let grants = Shared<[UInt64]>([])
        let clientsPerLoop = 4
        let reports = burstOnTwoLoops(
            upstream, model: "scenario:text", clientsPerLoop: clientsPerLoop, admissions: admissions, configure: configure,
            prepare: { proxy in proxy.provider.grantObserver = { at in grants.update { $0.append(at.milliseconds) } } })
        for report in reports {
            #expect(report.clean)
            #expect(report.statuses == Array(repeating: 200, count: clientsPerLoop))
            #expect(report.texts.allSatisfy { $0 == "Hello, world! How can I help?" })
        }
        #expect(upstream.clean.current)
        #expect(upstream.counts.current.requests == 2 * clientsPerLoop)
        let times = grants.current.sorted()
        #expect(times.count == 2 * clientsPerLoop)
        // The grants' instants are those the shared window counted, read from one clock.
        for (i, t) in times.enumerated() {
            let inWindow = times[i...].prefix { $0 < t + 600 }.count
            #expect(inWindow <= 3, "grants \(times)")
        }
    }

    /// PROVIDER_MAX_CONCURRENCY=2 with four streams from each loop: the upstream never has more than
    /// two open at once, and every stream completes.
    @Test func bothLoopsTogetherNeverExceedTheCap() throws {
        let upstream = UpstreamThread()
        let configure: @Sendable (inout Settings) -> Void = { $0.upstream.maxConcurrency = 2 }
        let admissions = try ProviderAdmissions.makeAll(settings: proxySettings(upstreamPort: 1, configure))
        let clientsPerLoop = 4
        let reports = burstOnTwoLoops(
            upstream, model: "scenario:slow", clientsPerLoop: clientsPerLoop, admissions: admissions, configure: configure)
        for report in reports {
            #expect(report.clean)
            #expect(report.statuses == Array(repeating: 200, count: clientsPerLoop))
            #expect(Set(report.texts).count == 1 && report.texts.first?.isEmpty == false)
        }
        #expect(upstream.clean.current)
        #expect(upstream.counts.current.requests == 2 * clientsPerLoop)
        #expect(upstream.counts.current.mostStreamsAtOnce == 2)
        #expect(admissions[.nvidiaNim].mostPlacesTaken == 2)
        #expect(admissions[.nvidiaNim].placesTaken == 0)
        #expect(admissions[.nvidiaNim].waitingForPlace == 0)
    }

    /// PROVIDER_MAX_CONCURRENCY=1: loop A's stream holds the place and loop B's request waits for
    /// it; `endA` ends A's stream (its client leaves, or A's provider shuts down while B runs). The
    /// place goes to B, whose request is then answered.
    private func waiterOnBGetsThePlaceFromA(endA: @escaping @Sendable (ProxyOnLoop, LoopHTTPClient) -> Void) throws {
        let upstream = UpstreamThread()
        let configure: @Sendable (inout Settings) -> Void = { $0.upstream.maxConcurrency = 1 }
        let admissions = try ProviderAdmissions.makeAll(settings: proxySettings(upstreamPort: 1, configure))
        let admission = admissions[.nvidiaNim]
        let bWaits = Shared(false)
        let reportA = Shared(LoopReport()), reportB = Shared(LoopReport())
        let loopA: @Sendable () -> Void = {
            upstream.waitUntilReady()
            let run = try? runLoop(timeout: .seconds(20)) { loop in
                let proxy = try ProxyOnLoop(loop: loop, upstreamPort: upstream.port.current, model: "scenario:hang",
                                            admissions: admissions, configure: configure)
                try LoopHTTPClient.connectOrRecordIssue(loop, port: proxy.port) { client in
                    client.send(rawRequest(simpleRequest))
                    poll(loop, until: { bWaits.current }) {
                        endA(proxy, client)
                        poll(loop, until: { proxy.provider.openStreams == 0 }) {
                            client.connection.close()
                            proxy.shutdown()
                        }
                    }
                }
            }
            reportA.update { $0.clean = run.map { !$0.timedOut && $0.leakedHandles.isEmpty } ?? false }
        }
        let loopB: @Sendable () -> Void = {
            upstream.waitUntilReady()
            let run = try? runLoop(timeout: .seconds(20)) { loop in
                let proxy = try ProxyOnLoop(loop: loop, upstreamPort: upstream.port.current, model: "scenario:text",
                                            admissions: admissions, configure: configure)
                poll(loop, until: { admission.placesTaken == 1 }) {
                    proxy.post { r in
                        record(r, into: reportB)
                        proxy.shutdown()
                    }
                    poll(loop, until: { proxy.provider.waitingForConcurrency == 1 }) {
                        bWaits.update { $0 = true }
                    }
                }
            }
            reportB.update { $0.clean = run.map { !$0.timedOut && $0.leakedHandles.isEmpty } ?? false }
        }
        onThreads([upstream.body, {
            onThreads([loopA, loopB])
            upstream.stop()
        }])
        #expect(reportA.current.clean)
        #expect(reportB.current.clean)
        #expect(bWaits.current)
        #expect(reportB.current.statuses == [200])
        #expect(reportB.current.texts == ["Hello, world! How can I help?"])
        #expect(upstream.clean.current)
        #expect(upstream.counts.current.requests == 2)
        #expect(upstream.counts.current.mostStreamsAtOnce == 1)
        #expect(admission.placesTaken == 0)
        #expect(admission.waitingForPlace == 0)
    }

    @Test func aWaiterOnLoopBGetsThePlaceLoopAGivesBack() throws {
        try waiterOnBGetsThePlaceFromA { _, client in client.connection.close() }
    }

    @Test func loopAShuttingDownWhileBRunsHandsItsPlaceOn() throws {
        try waiterOnBGetsThePlaceFromA { proxy, _ in proxy.provider.close() }
    }

    /// Loop B shuts down while its request waits in line: its ticket leaves the line, so when loop
    /// A's stream ends the place is not handed to the stopped loop, and A's next request gets it.
    @Test func aLoopShuttingDownLeavesTheLine() throws {
        let upstream = UpstreamThread()
        let configure: @Sendable (inout Settings) -> Void = { $0.upstream.maxConcurrency = 1 }
        let admissions = try ProviderAdmissions.makeAll(settings: proxySettings(upstreamPort: 1, configure))
        let admission = admissions[.nvidiaNim]
        let bStopped = Shared(false)
        let reportA = Shared(LoopReport()), reportB = Shared(LoopReport())
        let loopA: @Sendable () -> Void = {
            upstream.waitUntilReady()
            let run = try? runLoop(timeout: .seconds(20)) { loop in
                let proxy = try ProxyOnLoop(loop: loop, upstreamPort: upstream.port.current, model: "scenario:hang",
                                            admissions: admissions, configure: configure)
                try LoopHTTPClient.connectOrRecordIssue(loop, port: proxy.port) { client in
                    client.send(rawRequest(simpleRequest))
                    poll(loop, until: { bStopped.current }) {
                        client.connection.close()
                        poll(loop, until: { proxy.provider.openStreams == 0 }) {
                            // The "hang" model again: this one is ended by the shutdown below.
                            proxy.post { r in
                                record(r, into: reportA)
                            }
                            poll(loop, until: { proxy.provider.concurrentStreams == 1 }) {
                                reportA.update { $0.texts.append("held") }
                                proxy.shutdown()
                            }
                        }
                    }
                }
            }
            reportA.update { $0.clean = run.map { !$0.timedOut && $0.leakedHandles.isEmpty } ?? false }
        }
        let loopB: @Sendable () -> Void = {
            upstream.waitUntilReady()
            let run = try? runLoop(timeout: .seconds(20)) { loop in
                let proxy = try ProxyOnLoop(loop: loop, upstreamPort: upstream.port.current, model: "scenario:text",
                                            admissions: admissions, configure: configure)
                poll(loop, until: { admission.placesTaken == 1 }) {
                    proxy.post { r in record(r, into: reportB) }
                    poll(loop, until: { admission.waitingForPlace == 1 }) {
                        proxy.provider.close()
                        bStopped.update { $0 = true }
                        poll(loop, until: { !reportB.current.statuses.isEmpty }) { proxy.shutdown() }
                    }
                }
            }
            reportB.update { $0.clean = run.map { !$0.timedOut && $0.leakedHandles.isEmpty } ?? false }
        }
        onThreads([upstream.body, {
            onThreads([loopA, loopB])
            upstream.stop()
        }])
        #expect(reportA.current.clean)
        #expect(reportB.current.clean)
        #expect(reportB.current.statuses == [503], "B's waiting request heard the shutdown")
        #expect(reportA.current.texts.first == "held", "A's second request got the place B's loop left")
        #expect(upstream.clean.current)
        #expect(upstream.counts.current.requests == 2, "B's request never reached the upstream")
        #expect(admission.placesTaken == 0)
        #expect(admission.waitingForPlace == 0)
    }
}
