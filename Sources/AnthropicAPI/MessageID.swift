import Synchronization

/// Message ids shaped like the reference's `msg_<uuid4>`, made without a system call per id:
/// one random 128-bit base per process plus a counter. (Foundation's `UUID()` reads
/// /dev/urandom every time, which showed up at 9 % of the quota fast path.) Thread-safe:
/// the routes may run on a worker thread for large bodies.
public enum MessageID {
    private static let base: (UInt64, UInt64) = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next(), generator.next())
    }()
    private static let counter = Atomic<UInt64>(0)

    /// The first three groups come from the per-process base alone: written once.
    private static let fixedGroups: [UInt8] = {
        var hex: [UInt8] = []
        let high = base.0
        appendHex(high >> 32, nibbles: 8, to: &hex); hex.append(45)
        appendHex((high >> 16) & 0xFFFF, nibbles: 4, to: &hex); hex.append(45)
        appendHex(0x4000 | (high & 0x0FFF), nibbles: 4, to: &hex); hex.append(45)
        return hex
    }()

    public static func make(prefix: String = "msg_") -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        // Spread the counter over the low half so consecutive ids differ in many digits.
        let low = base.1 &+ n &* 0x9E37_79B9_7F4A_7C15
        // Written straight into the string's storage: one allocation for the id (every answer has one).
        let length = prefix.utf8.count + fixedGroups.count + 17
        return String(unsafeUninitializedCapacity: length) { buffer in
            var at = 0
            for byte in prefix.utf8 { buffer[at] = byte; at += 1 }
            for byte in fixedGroups { buffer[at] = byte; at += 1 }
            writeHex(0x8000 | ((low >> 48) & 0x3FFF), nibbles: 4, to: buffer, at: &at)
            buffer[at] = 45; at += 1
            writeHex(low & 0xFFFF_FFFF_FFFF, nibbles: 12, to: buffer, at: &at)
            return at
        }
    }

    private static func appendHex(_ value: UInt64, nibbles: Int, to hex: inout [UInt8]) {
        var shift = UInt64(nibbles - 1) * 4
        while true {
            let d = UInt8(truncatingIfNeeded: (value &>> shift) & 0xF)
            hex.append(d < 10 ? 48 + d : 87 + d)
            if shift == 0 { break }
            shift -= 4
        }
    }

    private static func writeHex(_ value: UInt64, nibbles: Int, to buffer: UnsafeMutableBufferPointer<UInt8>, at: inout Int) {
        for i in 0..<nibbles {
            let d = UInt8(truncatingIfNeeded: (value &>> UInt64((nibbles - 1 - i) * 4)) & 0xF)
            buffer[at] = d < 10 ? 48 + d : 87 + d
            at += 1
        }
    }
}
