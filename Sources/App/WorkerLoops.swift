// Every core: the main loop (the caller's) owns the listening socket, the CLI sessions and their
// store, and serves its share of connections; each worker loop runs on a thread of its own with
// its own app (the same middleware and Anthropic routes) and its own upstream client. What must
// stay in one place crosses to the main loop: the bot routes. `/health` and `/metrics` are
// answered by the loop that received them, with the figures it gathers from every loop.

import EventLoop
import HTTPServer

/// What a worker loop runs: its app, and what to release once the app's connections are closed
/// (the upstream client).
public struct WorkerParts {
    public let app: ProxyApp
    public let close: () -> Void

    public init(app: ProxyApp, close: @escaping () -> Void) {
        self.app = app
        self.close = close
    }
}

/// The worker loops of the process, run and stopped from the main loop. Loop-confined to the
/// main loop.
public final class WorkerLoops {
    public let main: ProxyApp
    /// Worker loops besides the main one.
    public let count: Int
    private let mailbox: LoopMailbox
    private let distributor: ConnectionDistributor
    private let forwardToMain: @Sendable (String) -> Bool
    private let makeWorker: @Sendable (EventLoop, Int) throws -> WorkerParts
    private var threads: [LoopThread] = []
    private var workers: [Int: WorkerAddress] = [:]
    private var finished = 0
    private var isShuttingDown = false
    private var shutdownTimeout = Duration.zero
    private var readyCompletion: (() -> Void)?
    private var shutdownCompletion: (() -> Void)?

    /// Called on the main loop for a worker that could not be set up or did not close cleanly.
    public var onProblem: ((String) -> Void)?
    /// Workers serving now.
    public var readyCount: Int { workers.count }
    /// Connections the main loop passed to workers since start.
    public var handedOff: UInt64 { distributor.handedOff }

    /// `mailbox` is the main loop's; it must stay open until `shutdown` completed. Requests whose
    /// path `forwardToMain` accepts are answered by `main`'s pipeline whichever loop received them.
    /// `makeWorker` runs on each worker's thread with its loop and number (1...count).
    public init(main: ProxyApp, mailbox: LoopMailbox, workers count: Int,
                forwardToMain: @escaping @Sendable (String) -> Bool,
                makeWorker: @escaping @Sendable (EventLoop, Int) throws -> WorkerParts) {
        self.main = main
        self.count = count
        self.mailbox = mailbox
        self.forwardToMain = forwardToMain
        self.makeWorker = makeWorker
        distributor = ConnectionDistributor(server: main.server)
        main.server.numberConnectionsAndRequests(from: 1, step: UInt64(count + 1))
    }

    /// Starts the threads. Each worker joins the rotation when set up; `onReady` runs on the main
    /// loop once all did (or failed). Connections accepted meanwhile are the main loop's.
    public func start(onReady: @escaping () -> Void) throws(UVError) {
        precondition(threads.isEmpty, "WorkerLoops.start called twice")
        readyCompletion = onReady
        if count == 0 {
            readyCompletion = nil
            onReady()
            return
        }
        let home = mailbox.address
        let group = LoopBound(self)
        let target = main.answerForwardedRequests(mailbox: home)
        let connectionCount = main.server.connectionCount
        let forwardToMain = self.forwardToMain, makeWorker = self.makeWorker
        let count = self.count
        for index in 1...count {
            threads.append(try LoopThread {
                WorkerLoops.run(index: index, count: count, home: home, group: group, target: target,
                                connectionCount: connectionCount, forwardToMain: forwardToMain, makeWorker: makeWorker)
            })
        }
    }

    /// Stops every worker: each stops accepting, lets its streams run up to `timeout`, releases its
    /// upstream client and closes its loop; the threads are joined and `completion` runs on the main
    /// loop. The main app's own shutdown is the caller's.
    public func shutdown(timeout: Duration, completion: @escaping () -> Void) {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        shutdownTimeout = timeout
        shutdownCompletion = completion
        for worker in workers.values { tellToStop(worker) }
        checkStopped()
    }

    // MARK: on the main loop, from the workers

    private func ready(_ index: Int, _ worker: WorkerAddress) {
        // Every loop answers `/health` and `/metrics` itself from the figures of all: the new
        // worker learns of the main loop and the workers before it, and they of it.
        let mainAddress = ProxyAppAddress(main, mailbox: mailbox.address)
        for known in [mainAddress] + workers.values.map(\.app) { Self.introduce(known, to: worker.app) }
        for other in workers.values { Self.introduce(worker.app, to: other.app) }
        main.gatherFigures(from: worker.app, home: mailbox.address)
        workers[index] = worker
        distributor.add(worker.server)
        if isShuttingDown { tellToStop(worker) }
        checkReady()
    }

    private func failed(_ index: Int, _ problem: String) {
        finished += 1
        onProblem?("worker loop \(index) could not start: \(problem)")
        checkReady()
        checkStopped()
    }

    private func stopped(_ index: Int, _ problem: String?) {
        finished += 1
        if let problem { onProblem?("worker loop \(index) did not close cleanly: \(problem)") }
        checkStopped()
    }

    /// Makes `listener`'s app (on a worker loop) gather figures from `source` too.
    private static func introduce(_ source: ProxyAppAddress, to listener: ProxyAppAddress) {
        let app = listener.object, home = listener.mailbox
        listener.mailbox.post { app.value.gatherFigures(from: source, home: home) }
    }

    private func tellToStop(_ worker: WorkerAddress) {
        let timeout = shutdownTimeout
        let loop = worker.worker
        // A worker that takes no more jobs is already stopping.
        worker.mailbox.post { loop.value.stop(timeout: timeout) }
    }

    private func checkReady() {
        guard let completion = readyCompletion, workers.count + finished >= count else { return }
        readyCompletion = nil
        completion()
    }

    private func checkStopped() {
        guard isShuttingDown, finished == count, let completion = shutdownCompletion else { return }
        shutdownCompletion = nil
        // Each thread's last act was to post its stop here: the joins return at once.
        for thread in threads { thread.join() }
        threads = []
        completion()
    }

    // MARK: on a worker's thread

    private static func run(index: Int, count: Int, home: MailboxAddress, group: LoopBound<WorkerLoops>, target: ForwardingTarget,
                            connectionCount: ConnectionCount, forwardToMain: @escaping @Sendable (String) -> Bool,
                            makeWorker: @Sendable (EventLoop, Int) throws -> WorkerParts) {
        let loop: EventLoop
        let worker: Worker
        do {
            loop = try EventLoop()
            let mailbox = try LoopMailbox(loop: loop)
            let parts = try makeWorker(loop, index)
            parts.app.server.connectionCount = connectionCount
            parts.app.server.numberConnectionsAndRequests(from: UInt64(index + 1), step: UInt64(count + 1))
            let forwarder = RequestForwarder(home: mailbox.address, target: target)
            parts.app.forward(where: forwardToMain, through: forwarder)
            worker = Worker(parts: parts, mailbox: mailbox, forwarder: forwarder)
        } catch {
            let problem = "\(error)"
            home.post { group.value.failed(index, problem) }
            return
        }
        let address = WorkerAddress(
            server: ServerAddress(worker.parts.app.server, mailbox: worker.mailbox.address),
            app: ProxyAppAddress(worker.parts.app, mailbox: worker.mailbox.address),
            worker: LoopBound(worker), mailbox: worker.mailbox.address)
        home.post { group.value.ready(index, address) }
        withExtendedLifetime(worker) { loop.run() }
        let problem: String?
        do {
            try loop.close()
            problem = nil
        } catch {
            problem = "\(error)"
        }
        home.post { group.value.stopped(index, problem) }
    }
}

@available(*, unavailable)
extension WorkerLoops: Sendable {}

/// One worker loop as the main loop reaches it.
private struct WorkerAddress: Sendable {
    let server: ServerAddress
    let app: ProxyAppAddress
    let worker: LoopBound<Worker>
    let mailbox: MailboxAddress
}

/// A worker loop's own objects. Loop-confined to the worker's loop.
private final class Worker {
    let parts: WorkerParts
    let mailbox: LoopMailbox
    let forwarder: RequestForwarder

    init(parts: WorkerParts, mailbox: LoopMailbox, forwarder: RequestForwarder) {
        self.parts = parts
        self.mailbox = mailbox
        self.forwarder = forwarder
    }

    func stop(timeout: Duration) {
        parts.app.shutdown(timeout: timeout) { [self] in
            parts.close()
            mailbox.close()
            // Whatever is still open now is reported by the loop's close.
            parts.app.loop.stop()
        }
    }
}
