// LoopMailbox: how one loop's thread asks another loop to run something.
//
// libuv `design.rst`: a loop is not thread-safe and `uv_async_send` is the only call another
// thread may make. A mailbox is a queue behind a lock plus one `AsyncWakeup`: a sender appends a
// job and wakes the loop; the loop takes the whole queue at once (sends coalesce) and runs the
// jobs in the order they were posted, so messages from one sender arrive in order.

import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A job another thread asked this loop to run.
public typealias MailboxJob = @Sendable () -> Void

/// The receiving side of a loop's mailbox. Loop-confined; hand out `address` to other threads.
public final class LoopMailbox {
    public let loop: EventLoop
    private let queue: Queue
    private var wakeup: AsyncWakeup?

    /// Jobs waiting and whether the mailbox still takes more; shared with every `MailboxAddress`.
    final class Queue: Sendable {
        struct State {
            var jobs: [MailboxJob] = []
            var open = true
        }
        let state = Mutex(State())
    }

    public init(loop: EventLoop) throws(UVError) {
        self.loop = loop
        let queue = Queue()
        self.queue = queue
        wakeup = try AsyncWakeup(loop: loop) { Self.runPending(queue) }
    }

    /// Where other threads post jobs to this loop.
    public var address: MailboxAddress {
        MailboxAddress(queue: queue, wakeup: wakeup?.sender)
    }

    /// Stops taking jobs and runs those already posted, so nothing handed over (a socket, a
    /// request) is lost without its job running; the loop may then finish. Idempotent.
    public func close() {
        guard let wakeup else { return }
        self.wakeup = nil
        let left = queue.state.withLock { state -> [MailboxJob] in
            state.open = false
            defer { state.jobs = [] }
            return state.jobs
        }
        wakeup.close()
        for job in left { job() }
    }

    /// Whether `close()` was called.
    public var isClosed: Bool { wakeup == nil }

    /// The wakeup keeps the loop running while the mailbox is open; an unreferenced mailbox lets
    /// the loop end when nothing else is left (a test's loop that only waits for replies).
    public func unref() { wakeup?.unref() }

    private static func runPending(_ queue: Queue) {
        let jobs = queue.state.withLock { state -> [MailboxJob] in
            defer { state.jobs.removeAll(keepingCapacity: true) }
            return state.jobs
        }
        for job in jobs { job() }
    }
}

@available(*, unavailable)
extension LoopMailbox: Sendable {}

/// A loop's mailbox as other threads see it.
public struct MailboxAddress: Sendable {
    let queue: LoopMailbox.Queue
    let wakeup: AsyncWakeup.Sender?

    /// Queues `job` to run on the mailbox's loop. False when the mailbox is closed: the job was
    /// dropped without running (whatever it was to hand over is the caller's again).
    @discardableResult
    public func post(_ job: @escaping MailboxJob) -> Bool {
        guard let wakeup else { return false }
        let accepted = queue.state.withLock { state -> Bool in
            guard state.open else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { wakeup.send() }
        return accepted
    }
}

/// A loop-confined object as other threads reach it: its loop's mailbox, and the object boxed for
/// the jobs posted there (a worker's server the accepting loop hands connections to, a loop's app
/// asked for its figures).
public struct LoopObjectAddress<Object>: Sendable {
    public let mailbox: MailboxAddress
    public let object: LoopBound<Object>

    /// Made on the object's own loop; `mailbox` is that loop's.
    public init(_ object: Object, mailbox: MailboxAddress) {
        self.mailbox = mailbox
        self.object = LoopBound(object)
    }
}

/// A loop-confined value carried through another thread's job back to its own loop (a responder
/// waiting for an answer another loop makes, the app a mailbox job runs against).
///
/// `@unchecked Sendable`: the value is only ever read on the thread that made the box, which
/// `value` checks; elsewhere the box is only copied, which only moves a reference count (atomic
/// in Swift) and never touches the value's own state.
public struct LoopBound<Value>: @unchecked Sendable {
    private let stored: Value
    private let owner: pthread_t

    /// Must be made on the thread that runs the value's loop.
    public init(_ value: Value) {
        stored = value
        owner = pthread_self()
    }

    /// The value; only on the thread that made the box.
    public var value: Value {
        precondition(pthread_equal(owner, pthread_self()) != 0, "a loop-bound value read on another thread")
        return stored
    }
}
