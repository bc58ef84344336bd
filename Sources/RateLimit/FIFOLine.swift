/// A first-come-first-served line on one array. Taking the head moves an index instead of shifting
/// the array; the spent prefix is dropped once it is most of the array, so an element is moved a
/// bounded number of times however long the line runs.
struct FIFOLine<Element> {
    private var items: [Element] = []
    private var head = 0

    var count: Int { items.count - head }
    var isEmpty: Bool { head == items.count }
    /// Head first.
    var elements: ArraySlice<Element> { items[head...] }
    var first: Element? { isEmpty ? nil : items[head] }

    mutating func append(_ element: Element) {
        items.append(element)
    }

    mutating func popFirst() -> Element? {
        guard !isEmpty else { return nil }
        let element = items[head]
        head += 1
        dropSpentPrefix()
        return element
    }

    /// Takes the first element `matches` accepts out of the line, wherever it stands.
    @discardableResult
    mutating func removeFirst(where matches: (Element) -> Bool) -> Element? {
        guard let i = items[head...].firstIndex(where: matches) else { return nil }
        let element = items.remove(at: i)
        dropSpentPrefix()
        return element
    }

    /// Takes every element `matches` accepts out of the line; the others keep their order.
    mutating func removeAll(where matches: (Element) -> Bool) {
        items.removeSubrange(..<head)
        head = 0
        items.removeAll(where: matches)
    }

    private mutating func dropSpentPrefix() {
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64, head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
    }
}

extension FIFOLine: Sendable where Element: Sendable {}
