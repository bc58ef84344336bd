/// When to write the sessions file, as a state machine the loop drives with
/// its own clock. It runs no timer and does no I/O: every input returns the one
/// `Action` the owner must carry out.
///
/// Behaviour of the reference (`_schedule_save`, `_save_from_timer`,
/// `_flush_save`): each mutation cancels the pending timer and starts a new one,
/// so the file is written `delay` (0.5 s) after the *last* of a burst of
/// mutations; a flush cancels the timer and writes at once, even when nothing
/// changed. Saves here run off the loop, so this adds what the reference got from
/// its lock: never two writes at once, and a mutation that lands while a write is
/// in progress is written by another save after it (no lost update). A failed
/// write leaves the state dirty and retries after `delay` (the reference logs
/// and drops it until the next mutation).
///
/// Confined to the loop that owns the store; not thread-safe.
public struct SaveDebouncer<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public enum Action: Equatable, Sendable {
        case none
        /// (Re)arm the single save timer for `deadline`, replacing any earlier one.
        case armTimer(deadline: Instant)
        /// Stop the timer; nothing is to be written by it.
        case cancelTimer
        /// Snapshot the state now and write it; report with `saveCompleted`.
        /// No deadline is pending afterwards: a timer the loop still has armed
        /// may be cancelled, or left to fire (it is then ignored).
        case startSave
    }

    public let delay: Duration
    /// Changes made since the last snapshot that no save has taken yet.
    public private(set) var isDirty = false
    public private(set) var deadline: Instant?
    public private(set) var isSaving = false
    private var saveAfterCurrent = false
    private var flushAfterCurrent = false

    /// The reference's `_save_debounce_secs = 0.5`.
    public static var referenceDelay: Duration { .milliseconds(500) }

    public init(delay: Duration = Self.referenceDelay) {
        self.delay = delay
    }

    /// Nothing to write and nothing being written: safe to exit.
    public var isIdle: Bool { !isDirty && !isSaving && !flushAfterCurrent }

    /// After a `.debounced` change to the state.
    public mutating func mutated(now: Instant) -> Action {
        isDirty = true
        let due = now.advanced(by: delay)
        deadline = due
        return .armTimer(deadline: due)
    }

    /// After `.immediate` (`clear_all`, `flush_pending_save`): write now, or
    /// right after the save in progress.
    public mutating func flush(now: Instant) -> Action {
        deadline = nil
        if isSaving {
            flushAfterCurrent = true
            return .cancelTimer
        }
        return beginSave()
    }

    public mutating func timerFired(now: Instant) -> Action {
        // A timer that was re-armed or cancelled in the meantime may still fire once.
        guard let due = deadline, now >= due else { return .none }
        deadline = nil
        guard isDirty else { return .none }
        if isSaving {
            saveAfterCurrent = true
            return .none
        }
        return beginSave()
    }

    public mutating func saveCompleted(now: Instant, succeeded: Bool) -> Action {
        isSaving = false
        if !succeeded { isDirty = true }
        if flushAfterCurrent || (saveAfterCurrent && isDirty) {
            return beginSave()
        }
        saveAfterCurrent = false
        if isDirty && deadline == nil {
            let due = now.advanced(by: delay)
            deadline = due
            return .armTimer(deadline: due)
        }
        return .none
    }

    private mutating func beginSave() -> Action {
        isDirty = false
        isSaving = true
        saveAfterCurrent = false
        flushAfterCurrent = false
        deadline = nil
        return .startSave
    }
}
