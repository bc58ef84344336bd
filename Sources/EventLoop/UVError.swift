// UVError: a libuv failure as a typed Swift error.
//
// libuv reports failures as negative integers (`errors.rst`); a negative return from a function that
// takes a callback also means the callback will never run, so callers must clean up themselves.

import CLibUV

/// A libuv error code with its symbolic name (`uv_err_name`, e.g. "ECONNREFUSED") and the call that failed.
public struct UVError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The negative libuv error code (e.g. `UV_EOF.rawValue`).
    public let code: Int32
    /// `uv_err_name(code)`.
    public let name: String
    /// The libuv function (or operation) that returned the code.
    public let operation: String
    /// Extra context, e.g. the handles still open when a loop refused to close.
    public let detail: String?

    public init(code: Int32, operation: String, detail: String? = nil) {
        self.code = code
        self.name = String(cString: uv_err_name(code))
        self.operation = operation
        self.detail = detail
    }

    /// `uv_strerror(code)`, e.g. "no such file or directory".
    public var message: String { String(cString: uv_strerror(code)) }

    public var description: String {
        if let detail { return "\(operation): \(name) (\(message)): \(detail)" }
        return "\(operation): \(name) (\(message))"
    }

    /// The peer closed its side of the stream.
    public var isEOF: Bool { code == UV_EOF.rawValue }
    /// No such file or directory (e.g. a spawn's executable or working directory).
    public var isNotFound: Bool { code == UV_ENOENT.rawValue }
    /// The request was cancelled because its handle closed.
    public var isCanceled: Bool { code == UV_ECANCELED.rawValue }

    /// Throws when `rc` is a libuv error code.
    @inline(__always)
    static func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(UVError) {
        if rc < 0 { throw UVError(code: rc, operation: operation()) }
    }
}

