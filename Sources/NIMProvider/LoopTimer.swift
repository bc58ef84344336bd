import EventLoop

/// The loop's timer; Foundation also exports a `Timer`, and the module `EventLoop`
/// is shadowed by its class of the same name, so the name is fixed here once.
typealias LoopTimer = Timer
