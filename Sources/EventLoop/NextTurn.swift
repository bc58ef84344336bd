extension EventLoop {
    /// Runs `body` from the loop on its next turn, never inside the caller (h2o's rule: completions
    /// go through a zero-delay timer). Falls back to calling at once only if libuv cannot make or
    /// start a timer.
    public func onNextTurn(_ body: @escaping () -> Void) {
        guard let timer = try? Timer(loop: self) else {
            body()
            return
        }
        do {
            // The closure keeps the timer alive until it fires; closing clears the closure.
            try timer.start(after: .zero) {
                timer.close()
                body()
            }
        } catch {
            timer.close()
            body()
        }
    }
}
