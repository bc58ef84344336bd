@testable import HTTP1
import Testing

@Suite struct FindByteTests {
    @Test func findsTheFirstMatchAtEveryPositionAndOffset() {
        // Every position of the match relative to the eight-byte words, with bytes around it that
        // differ from the sought one by a single bit or a borrow (0x00, 0x01, 0x80, 0xff).
        for sought: UInt8 in [0x0A, 0x0D, 0x3A, 0x20, 0x00, 0x80, 0xFF] {
            for length in 0...24 {
                for position in [-1] + Array(0..<length) {
                    var bytes = (0..<length).map { i -> UInt8 in [0x00, 0x01, 0x80, 0xFF, 0x41][i % 5] }
                    for i in bytes.indices where bytes[i] == sought { bytes[i] = sought &+ 2 }
                    if position >= 0 {
                        bytes[position] = sought
                        if position + 3 < length { bytes[position + 3] = sought }
                    }
                    for start in 0...length {
                        let expected = bytes[start...].firstIndex(of: sought)
                        let found = bytes.withUnsafeBytes { findByte(sought, in: $0, from: start) }
                        #expect(found == expected, "byte \(sought) length \(length) at \(position) from \(start)")
                    }
                }
            }
        }
    }
}
