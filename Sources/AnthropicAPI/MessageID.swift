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

    public static func make(prefix: String = "msg_") -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        // Spread the counter over the low half so consecutive ids differ in many digits.
        let low = base.1 &+ n &* 0x9E37_79B9_7F4A_7C15
        var hex = [UInt8](repeating: 0, count: 36)
        var i = 0
        func put(_ value: UInt64, nibbles: Int) {
            for k in stride(from: nibbles - 1, through: 0, by: -1) {
                let d = UInt8((value >> (UInt64(k) * 4)) & 0xF)
                hex[i] = d < 10 ? 48 + d : 87 + d
                i += 1
            }
        }
        let high = base.0
        put(high >> 32, nibbles: 8); hex[i] = 45; i += 1
        put((high >> 16) & 0xFFFF, nibbles: 4); hex[i] = 45; i += 1
        put(0x4000 | (high & 0x0FFF), nibbles: 4); hex[i] = 45; i += 1
        put(0x8000 | ((low >> 48) & 0x3FFF), nibbles: 4); hex[i] = 45; i += 1
        put(low & 0xFFFF_FFFF_FFFF, nibbles: 12)
        return prefix + String(decoding: hex, as: UTF8.self)
    }
}
