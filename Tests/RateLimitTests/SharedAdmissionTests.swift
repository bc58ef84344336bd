import Foundation
import Synchronization
import Testing
import TestSupport
@testable import RateLimit

private typealias Admission = SharedAdmission<TestInstant>

/// Counts calls of a waker from any thread.
private final class WakeCount: Sendable {
    let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    var wake: @Sendable () -> Void { { self.count.withLock { $0 += 1 } } }
}

@Suite struct SharedAdmissionTests {
    // MARK: window and block

    @Test func slotsAreGrantedUntilTheWindowIsFullThenNamedForWhenOneFrees() throws {
        let a = try Admission(limit: 2, window: .seconds(1))
        #expect(a.takeSlot(now: 0) == .granted(at: 0))
        #expect(a.takeSlot(now: 0.25) == .granted(at: 0.25))
        #expect(a.takeSlot(now: 0.5) == .notBefore(1))
        // Asking again changes nothing: a refused ask leaves no trace in the window.
        #expect(a.takeSlot(now: 0.9) == .notBefore(1))
        #expect(a.usedSlots(now: 0.9) == 2)
        #expect(a.takeSlot(now: 1) == .granted(at: 1))
        #expect(a.takeSlot(now: 1) == .notBefore(1.25))
    }

    @Test func a429BlockHoldsEveryAskerAndNeverShrinks() throws {
        let a = try Admission(limit: 10, window: .seconds(1), retry: RetryPolicy(baseDelay: .seconds(2), jitter: .zero))
        #expect(a.on429(attempt: 0, retryAfter: nil, random: 0, now: 10) == .retry(after: .seconds(2)))
        #expect(a.takeSlot(now: 11) == .notBefore(12))
        a.blocked(for: .seconds(1), now: 11)
        #expect(a.blockRemaining(now: 11) == .seconds(1))
        a.blocked(for: .seconds(5), now: 11)
        #expect(a.takeSlot(now: 12) == .notBefore(16))
        #expect(a.takeSlot(now: 16) == .granted(at: 16))
    }

    /// Eight threads ask at once at one instant: exactly `limit` get a slot.
    @Test func threadsAskingTogetherGetExactlyTheLimit() throws {
        let a = try Admission(limit: 50, window: .seconds(60))
        let granted = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            var mine = 0
            for _ in 0..<100 where a.takeSlot(now: 5) == .granted(at: 5) { mine += 1 }
            granted.withLock { $0 += mine }
        }
        #expect(granted.withLock { $0 } == 50)
        #expect(a.usedSlots(now: 5) == 50)
    }

    // MARK: concurrency places

    @Test func placesUpToTheCapThenOneLineAcrossWaiters() throws {
        let a = try Admission(limit: 1, window: .seconds(1), cap: 2)
        let wakeA = WakeCount(), wakeB = WakeCount()
        let loopA = a.register(wake: wakeA.wake), loopB = a.register(wake: wakeB.wake)
        #expect(a.takePlace(for: loopA) == .taken)
        #expect(a.takePlace(for: loopB) == .taken)
        guard case .queued(let b1) = a.takePlace(for: loopB), case .queued(let a1) = a.takePlace(for: loopA) else {
            Issue.record("the third and fourth asks should wait")
            return
        }
        #expect(a.waitingForPlace == 2)
        // A gives a place back: B's ticket was first in line, so B is woken and holds it.
        a.givePlaceBack()
        #expect(wakeB.value == 1 && wakeA.value == 0)
        #expect(a.placesTaken == 2)
        // A loop with nobody waiting cannot overtake the line.
        guard case .queued = a.takePlace(for: loopA) else {
            Issue.record("a new ask should queue behind a waiting ticket")
            return
        }
        #expect(a.claimPlaces(for: loopA) == [])
        #expect(a.claimPlaces(for: loopB) == [b1])
        #expect(a.claimPlaces(for: loopB) == [])
        a.givePlaceBack()
        #expect(wakeA.value == 1)
        #expect(a.claimPlaces(for: loopA) == [a1])
        #expect(a.mostPlacesTaken == 2)
    }

    @Test func withoutACapEveryAskIsTakenAndCounted() throws {
        let a = try Admission(limit: 1, window: .seconds(1), cap: 0)
        let w = a.register(wake: {})
        for _ in 0..<5 { #expect(a.takePlace(for: w) == .taken) }
        #expect(a.placesTaken == 5)
        a.givePlaceBack()
        #expect(a.placesTaken == 4)
    }

    @Test func aTicketLeavingAfterItsPlaceWasHandedPassesThePlaceOn() throws {
        let a = try Admission(limit: 1, window: .seconds(1), cap: 1)
        let wakeA = WakeCount(), wakeB = WakeCount()
        let loopA = a.register(wake: wakeA.wake), loopB = a.register(wake: wakeB.wake)
        #expect(a.takePlace(for: loopA) == .taken)
        guard case .queued(let b1) = a.takePlace(for: loopB), case .queued(let a1) = a.takePlace(for: loopA) else {
            Issue.record("asks beyond the cap should wait")
            return
        }
        a.givePlaceBack()
        #expect(wakeB.value == 1)
        // B's client left before B's loop claimed the place: it goes on to A's ticket.
        a.leaveLine(b1, waiter: loopB)
        #expect(wakeA.value == 1)
        #expect(a.claimPlaces(for: loopB) == [])
        #expect(a.claimPlaces(for: loopA) == [a1])
        #expect(a.placesTaken == 1)
        // A ticket leaving while still in line frees nothing.
        guard case .queued(let b2) = a.takePlace(for: loopB) else {
            Issue.record("should wait")
            return
        }
        a.leaveLine(b2, waiter: loopB)
        #expect(a.waitingForPlace == 0 && a.placesTaken == 1)
    }

    @Test func aLoopLeavingGivesOnThePlacesHandedToItAndLeavesTheLine() throws {
        let a = try Admission(limit: 1, window: .seconds(1), cap: 1)
        let wakeA = WakeCount(), wakeB = WakeCount()
        let loopA = a.register(wake: wakeA.wake), loopB = a.register(wake: wakeB.wake)
        #expect(a.takePlace(for: loopA) == .taken)
        guard case .queued = a.takePlace(for: loopB), case .queued = a.takePlace(for: loopB),
            case .queued(let a1) = a.takePlace(for: loopA)
        else {
            Issue.record("asks beyond the cap should wait")
            return
        }
        a.givePlaceBack()
        #expect(wakeB.value == 1)
        a.unregister(loopB)
        #expect(wakeA.value == 1)
        #expect(a.claimPlaces(for: loopA) == [a1])
        #expect(a.waitingForPlace == 0)
        #expect(a.placesTaken == 1)
        // Nothing is handed to a loop that left.
        a.givePlaceBack()
        #expect(wakeB.value == 1)
        #expect(a.placesTaken == 0)
    }

    /// Threads taking and giving back places (queued tickets leave the line at once): the places
    /// held, counted by the holders themselves, never exceed the cap.
    @Test func threadsHoldingPlacesNeverExceedTheCap() throws {
        let a = try Admission(limit: 1, window: .seconds(1), cap: 3)
        let holding = Mutex((now: 0, most: 0))
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let me = a.register(wake: {})
            for _ in 0..<2000 {
                switch a.takePlace(for: me) {
                case .taken:
                    holding.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                    holding.withLock { $0.now -= 1 }
                    a.givePlaceBack()
                case .queued(let ticket):
                    // Handed over already: the place goes on to the next in line.
                    a.leaveLine(ticket, waiter: me)
                }
                for _ in a.claimPlaces(for: me) { a.givePlaceBack() }
            }
            a.unregister(me)
        }
        #expect(holding.withLock { $0.most } <= 3)
        #expect(a.placesTaken == 0)
        #expect(a.waitingForPlace == 0)
    }
}
