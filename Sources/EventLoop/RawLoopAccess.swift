import CLibUV

extension EventLoop {
    /// The `uv_loop_t` this loop owns, for modules that drive libuv handles this module does
    /// not wrap (curl's poll handles, child processes and their pipes). Use it only on the
    /// loop's thread, and close every handle made on it before `close()`.
    public var uvLoop: UnsafeMutablePointer<uv_loop_t> { raw }
}
