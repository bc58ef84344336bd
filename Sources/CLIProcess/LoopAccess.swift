// LoopAccess: the `uv_loop_t` behind an `EventLoop`, for `uv_spawn` and `uv_pipe_t`.

import CLibUV
import EventLoop

extension EventLoop {
    var uvLoopPointer: UnsafeMutablePointer<uv_loop_t> { uvLoop }
}
