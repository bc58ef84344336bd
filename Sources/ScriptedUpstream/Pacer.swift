// Pacer: one timer for every paced stream on the loop.
//
// Ten thousand slow streams each waiting for their next chunk would otherwise be ten thousand
// `uv_timer_t` handles, each a separate allocation that must be closed through the loop. Here they
// are entries of one min-heap keyed by due time, and a single libuv timer is armed for the earliest.
// A stream that went away is not removed from the heap; its entry is skipped when it comes due
// (the caller checks its own state), which keeps cancellation O(1).

import EventLoop

/// Loop-confined.
final class Pacer {
    private struct Entry {
        var due: UInt64
        /// Breaks ties in scheduling order, so equal deadlines fire first-come first-served.
        var order: UInt64
        var action: () -> Void
    }

    let loop: EventLoop
    private var heap: [Entry] = []
    private var nextOrder: UInt64 = 0
    private var timer: Timer?
    private var armedFor: UInt64?
    private var isClosed = false

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// Entries waiting (including those of streams that already ended).
    var pendingCount: Int { heap.count }

    /// Runs `action` from the loop after `ms` milliseconds (never synchronously).
    func schedule(afterMs ms: UInt64, _ action: @escaping () -> Void) {
        guard !isClosed else { return }
        nextOrder += 1
        push(Entry(due: loop.now.milliseconds + ms, order: nextOrder, action: action))
        arm()
    }

    /// Drops every entry and closes the timer.
    func close() {
        isClosed = true
        heap.removeAll()
        timer?.close()
        timer = nil
        armedFor = nil
    }

    private func arm() {
        guard let first = heap.first else {
            timer?.stop()
            armedFor = nil
            return
        }
        if let armedFor, armedFor <= first.due, timer?.isActive == true { return }
        if timer == nil { timer = try? Timer(loop: loop) }
        guard let timer else { return }
        let now = loop.now.milliseconds
        let wait = first.due > now ? first.due - now : 0
        armedFor = first.due
        try? timer.start(after: .milliseconds(wait)) { [unowned self] in self.fire() }
    }

    private func fire() {
        armedFor = nil
        let now = loop.now.milliseconds
        // Actions scheduled while firing are due later than `now` unless their delay is 0; those
        // wait for the next turn so a zero-delay chain cannot starve the loop.
        var due: [Entry] = []
        while let first = heap.first, first.due <= now {
            due.append(pop())
        }
        for entry in due where !isClosed { entry.action() }
        if !isClosed { arm() }
    }

    // MARK: Binary heap

    private func less(_ a: Entry, _ b: Entry) -> Bool {
        a.due != b.due ? a.due < b.due : a.order < b.order
    }

    private func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if !less(heap[child], heap[parent]) { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func pop() -> Entry {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count, less(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count, less(heap[right], heap[smallest]) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}

@available(*, unavailable)
extension Pacer: Sendable {}
