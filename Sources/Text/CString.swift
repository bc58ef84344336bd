extension String {
    /// The UTF-8 text of a C character buffer (filled by `inet_ntop`, `mkdtemp`, `fgets`, ...) up to
    /// its first NUL, or all of it when there is none; invalid UTF-8 is repaired, never trapped on.
    public init(cBuffer: some Sequence<CChar>) {
        self = String(decoding: cBuffer.prefix { $0 != 0 }.map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self)
    }
}
