import CLibUV
import EventLoop
import Testing
import TestSupport

@Suite struct TCPTests {
    /// A listener on 127.0.0.1:0 that echoes and closes when the peer closes.
    func startEchoServer(_ loop: EventLoop, accepted: @escaping (TCPConnection) -> Void = { _ in }) throws -> (TCPListener, Int) {
        let listener = try TCPListener(loop: loop)
        try listener.bind(host: "127.0.0.1", port: 0)
        try listener.listen { connection in
            accepted(connection)
            try? connection.startReading(onData: { bytes in
                try? connection.write(bytes)
            }, onEnd: { _ in connection.close() })
        }
        return (listener, try listener.localAddress.port)
    }

    @Test func listenerOnPortZeroAcceptsAndEchoes() throws {
        var echoed: [UInt8] = []
        var peer: String?
        try withLoop { loop in
            let (listener, port) = try startEchoServer(loop) { connection in
                peer = connection.peerAddress?.host
            }
            #expect(port > 0)
            try TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                guard case .success(let client) = result else { Issue.record("connect failed"); listener.close(); return }
                try? client.startReading(onData: { bytes in
                    echoed += bytes
                    if echoed.count == 11 { client.close(); listener.close() }
                }, onEnd: { _ in client.close(); listener.close() })
                try? client.write(Array("hello world".utf8))
            }
        }
        #expect(String(decoding: echoed, as: UTF8.self) == "hello world")
        #expect(peer == "127.0.0.1")
    }

    @Test func writeCompletionAndShutdownDeliverEOFToThePeer() throws {
        var completions: [UVError?] = []
        var received: [UInt8] = []
        var sawEOF = false
        try withLoop { loop in
            let listener = try TCPListener(loop: loop)
            try listener.bind(host: "127.0.0.1", port: 0)
            try listener.listen { server in
                try? server.write(Array("abc".utf8)) { completions.append($0) }
                try? server.write(Array("def".utf8)) { completions.append($0) }
                try? server.shutdown { _ in
                    #expect(completions.count == 2)
                    server.close()
                }
                listener.close()
            }
            try TCPConnection.connect(loop: loop, host: "127.0.0.1", port: try listener.localAddress.port) { result in
                guard case .success(let client) = result else { return }
                try? client.startReading(onData: { received += $0 }, onEnd: { error in
                    sawEOF = error == nil
                    client.close()
                })
            }
        }
        #expect(completions.count == 2)
        #expect(completions.allSatisfy { $0 == nil })
        #expect(String(decoding: received, as: UTF8.self) == "abcdef")
        #expect(sawEOF)
    }

    @Test func connectToAClosedPortFails() throws {
        var failure: UVError?
        try withLoop { loop in
            // Bind then close to learn a port nobody listens on.
            let probe = try TCPListener(loop: loop)
            try probe.bind(host: "127.0.0.1", port: 0)
            try probe.listen { $0.close() }
            let port = try probe.localAddress.port
            probe.close()
            probe.onClose = {
                try? TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                    if case .failure(let error) = result { failure = error }
                    if case .success(let connection) = result { connection.close() }
                }
            }
        }
        #expect(failure?.name == "ECONNREFUSED")
    }

    @Test func invalidAddressIsATypedError() throws {
        #expect(throws: UVError.self) { try SocketAddress(host: "not-an-ip", port: 80) }
        #expect(throws: UVError.self) { try SocketAddress(host: "127.0.0.1", port: 70000) }
        let v6 = try SocketAddress(host: "::1", port: 8082)
        #expect(v6.description == "[::1]:8082")
        #expect(try SocketAddress(host: "localhost", port: 1).host == "127.0.0.1")
    }

    @Test func backpressureIsVisibleAndDrainSignalFires() throws {
        let total = 16 << 20
        let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
        var maxQueued = 0
        var sawUnwritable = false
        var drainSignals = 0
        var received = 0
        var written = 0
        try withLoop { loop in
            let listener = try TCPListener(loop: loop)
            try listener.bind(host: "127.0.0.1", port: 0)
            try listener.listen { server in
                listener.close()
                server.writeHighWaterBytes = 256 * 1024
                server.writeLowWaterBytes = 64 * 1024
                // Writes only while writable: the queue can overshoot the mark by one chunk at most.
                func pump() {
                    while written < total && server.isWritable {
                        try? server.write(chunk)
                        written += chunk.count
                        maxQueued = max(maxQueued, server.writeQueueBytes)
                    }
                    if written >= total {
                        try? server.shutdown { _ in server.close() }
                    } else {
                        sawUnwritable = true
                    }
                }
                server.onWritable = {
                    drainSignals += 1
                    pump()
                }
                pump()
            }
            try TCPConnection.connect(loop: loop, host: "127.0.0.1", port: try listener.localAddress.port) { result in
                guard case .success(let client) = result else { return }
                // Read only after a pause so the server's queue has to fill.
                let delay = try? Timer(loop: loop)
                try? delay?.start(after: .milliseconds(50)) {
                    delay?.close()
                    try? client.startReading(onData: { received += $0.count }, onEnd: { _ in client.close() })
                }
            }
        }
        #expect(sawUnwritable)
        #expect(drainSignals > 0)
        #expect(maxQueued >= 256 * 1024)
        #expect(maxQueued < 256 * 1024 + 64 * 1024)
        #expect(received == total)
    }

    @Test func closingWithPendingWritesCancelsThem() throws {
        var results: [UVError?] = []
        try withLoop { loop in
            let listener = try TCPListener(loop: loop)
            try listener.bind(host: "127.0.0.1", port: 0)
            var client: TCPConnection?
            try listener.listen { server in
                listener.close()
                // 32 MiB never read by the client cannot all reach the kernel at once.
                let big = [UInt8](repeating: 1, count: 32 << 20)
                try? server.write(big) { results.append($0) }
                #expect(server.writeQueueBytes > 0)
                server.close()
                client?.close()
            }
            try TCPConnection.connect(loop: loop, host: "127.0.0.1", port: try listener.localAddress.port) { result in
                if case .success(let connection) = result { client = connection }
            }
        }
        #expect(results.count == 1)
        #expect(results.first??.isCanceled == true)
    }

    @Test func writeAfterCloseThrows() throws {
        try withLoop { loop in
            let listener = try TCPListener(loop: loop)
            try listener.bind(host: "127.0.0.1", port: 0)
            try listener.listen { server in
                server.close()
                #expect(throws: UVError.self) { try server.write([1, 2, 3]) }
                listener.close()
            }
            try TCPConnection.connect(loop: loop, host: "127.0.0.1", port: try listener.localAddress.port) { result in
                guard case .success(let client) = result else { return }
                try? client.startReading(onData: { _ in }, onEnd: { _ in client.close() })
            }
        }
    }
}
