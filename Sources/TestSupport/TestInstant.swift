/// A hand-driven instant for the pure policies that are generic over the clock (the rate limiter,
/// the save debouncer): an exact offset from an arbitrary origin. Literals are seconds (`14.999`),
/// kept to the nanosecond, so that `1.2` advanced by one second is exactly `2.2`.
public struct TestInstant: InstantProtocol, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var offset: Duration

    public init(offset: Duration) { self.offset = offset }

    public init(seconds: Double) { offset = .nanoseconds(Int64((seconds * 1e9).rounded())) }

    public static func milliseconds(_ value: Int64) -> TestInstant { TestInstant(offset: .milliseconds(value)) }

    public init(floatLiteral value: Double) { self.init(seconds: value) }

    public init(integerLiteral value: Int64) { offset = .seconds(value) }

    public func advanced(by duration: Duration) -> TestInstant { TestInstant(offset: offset + duration) }

    public func duration(to other: TestInstant) -> Duration { other.offset - offset }

    public static func < (a: TestInstant, b: TestInstant) -> Bool { a.offset < b.offset }

    public var description: String { "t=\(offset)" }
}
