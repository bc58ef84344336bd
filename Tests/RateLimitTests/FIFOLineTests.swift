import Testing
@testable import RateLimit

@Suite struct FIFOLineTests {
    /// Against a plain array as the model, through long runs that cross the compaction thresholds.
    @Test func behavesLikeAnArrayWhateverTheMixOfOperations() {
        var line = FIFOLine<Int>()
        var model: [Int] = []
        var generator = SplitMix(seed: 7)
        var next = 0
        for step in 0..<20_000 {
            switch generator.next() % 10 {
            case 0...4:
                line.append(next)
                model.append(next)
                next += 1
            case 5...7:
                #expect(line.popFirst() == (model.isEmpty ? nil : model.removeFirst()))
            case 8:
                let target = model.isEmpty ? -1 : model[Int(generator.next() % UInt64(model.count))]
                let removed = line.removeFirst { $0 == target }
                #expect(removed == (model.firstIndex(of: target).map { model.remove(at: $0) }))
            default:
                let modulus = Int(generator.next() % 7) + 2
                line.removeAll { $0 % modulus == 0 }
                model.removeAll { $0 % modulus == 0 }
            }
            #expect(line.count == model.count, "step \(step)")
            #expect(line.first == model.first)
            if step % 997 == 0 { #expect(Array(line.elements) == model) }
        }
        #expect(Array(line.elements) == model)
        while line.popFirst() != nil {}
        #expect(line.isEmpty && line.count == 0 && line.first == nil)
    }
}

/// A small deterministic generator, so a failure repeats.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
