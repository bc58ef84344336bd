/// `value` in lowercase hexadecimal, left-padded with zeros to `width` digits (never cut):
/// `%08x` in C, `f"{value:08x}"` in Python.
@inlinable
public func zeroPaddedHex(_ value: some BinaryInteger, width: Int) -> String {
    let digits = String(value, radix: 16)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
