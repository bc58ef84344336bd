// LoopAccess: the `uv_loop_t` behind an `EventLoop`.
//
// `EventLoop` keeps its loop pointer internal to its module and has no process or pipe handles, so
// this module, which wraps `uv_spawn` and `uv_pipe_t` itself, needs the pointer. Until EventLoop
// exposes it publicly, it is read through reflection (`Mirror` sees stored properties whatever their
// access level), checked against the loop's public state so a renamed or retyped property fails loudly
// instead of handing libuv a wrong pointer.

import CLibUV
import EventLoop

extension EventLoop {
    var uvLoopPointer: UnsafeMutablePointer<uv_loop_t> {
        for child in Mirror(reflecting: self).children {
            if let pointer = child.value as? UnsafeMutablePointer<uv_loop_t>,
               uv_now(pointer) == nowMs, (uv_loop_alive(pointer) != 0) == isAlive {
                return pointer
            }
        }
        fatalError("CLIProcess: EventLoop no longer stores its uv_loop_t pointer where CLIProcess reads it")
    }
}
