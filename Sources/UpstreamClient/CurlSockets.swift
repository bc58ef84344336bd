// The socket side of CurlMulti: curl says which sockets to watch for what (`CURLMOPT_SOCKETFUNCTION`),
// and each gets one `SocketPoll` (libuv `poll.rst`: one poll handle per socket), closed on
// `CURL_POLL_REMOVE`. A poll error goes to curl as `CURL_CSELECT_ERR` (multi-uv.c).

import CCurl
import EventLoop

extension CurlMulti {
    func socketEvent(_ socket: curl_socket_t, _ what: Int32) {
        if what == CURL_POLL_REMOVE {
            polls.removeValue(forKey: socket)?.close()
            return
        }
        let poll: SocketPoll
        if let existing = polls[socket] {
            poll = existing
        } else {
            guard let made = try? SocketPoll(loop: loop, socket: socket, { [unowned self] readiness in
                socketReady(socket, readiness)
            }) else { return }
            polls[socket] = made
            poll = made
        }
        var events: SocketPoll.Events = []
        if what == CURL_POLL_IN || what == CURL_POLL_INOUT { events.insert(.readable) }
        if what == CURL_POLL_OUT || what == CURL_POLL_INOUT { events.insert(.writable) }
        try? poll.start(events)
    }

    private func socketReady(_ socket: curl_socket_t, _ readiness: Result<SocketPoll.Events, UVError>) {
        guard let multi else { return }
        var flags: Int32 = 0
        switch readiness {
        case .failure:
            flags = Int32(CURL_CSELECT_ERR)
        case .success(let events):
            if events.contains(.readable) { flags |= Int32(CURL_CSELECT_IN) }
            if events.contains(.writable) { flags |= Int32(CURL_CSELECT_OUT) }
        }
        act(multi, socket, flags)
        drainMessages()
    }
}
