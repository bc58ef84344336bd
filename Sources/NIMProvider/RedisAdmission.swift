import EventLoop
import JSON
import Logging
import ProxyConfig
import RESP
import RateLimit
import RedisClient

/// RATE_LIMIT_STORE=redis: this loop's door to the rate windows every instance shares. Each
/// decision is one script run atomically by Redis on its own clock (`TIME`), so the instances'
/// clocks do not matter. While Redis cannot answer (unreachable, an error, no reply within the
/// connection's deadline) the process's own admission decides, and the change is logged once.
///
/// The window is a sorted set of grant times per provider, trimmed on each call; a 429 block is a
/// key whose expiry only grows. Grants Redis makes are also recorded in the process's admission,
/// so a fallback starts from this instance's share of the window rather than from nothing.
///
/// Loop-confined: one connection per loop.
final class RedisAdmission {
    private let redis: RedisConnection
    private let log: Logger
    private let prefix: String
    /// Makes each grant's member unique across instances and loops.
    private let instanceTag: String
    private var grants: UInt64 = 0
    /// Loaded scripts' hashes, by their text.
    private var scriptSHAs: [String: String] = [:]
    /// Whether the last decision came from Redis; nil before the first.
    private var serving: Bool?
    /// Shutdown: the failures of the commands cut short are no news.
    private var closed = false

    init(loop: EventLoop, host: String, port: Int, database: Int, log: Logger, prefix: String = "nim-proxy") {
        redis = RedisConnection(loop: loop, host: host, port: port, database: database)
        self.log = log
        self.prefix = prefix
        instanceTag = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        redis.onStateChange = { [unowned self] state in
            if state == .connected { self.scriptSHAs = [:] }
        }
        // Connect at start, so the log and `/health` say at once whether the store answers.
        redis.send(["PING"]) { [weak self] reply in
            guard let self, !self.closed else { return }
            if case .success(.simple("PONG")) = reply { self.noteServing(true, nil) } else { self.noteServing(false, try? reply.get()) }
        }
    }

    var address: String { "redis://\(redis.host):\(redis.port)/\(redis.database)" }

    /// `/health`'s `rate_limit_store`.
    var healthField: JSONValue {
        .object(JSONObject([
            ("kind", "redis"),
            ("address", .string(address)),
            ("state", .string(stateText)),
        ]))
    }

    /// Whether Redis serves: the last answer came from it and the connection has not failed since.
    private var stateText: String {
        if case .down = redis.state { return "unreachable: using the in-process limiter" }
        switch serving {
        case nil: return "connecting"
        case true?: return "connected"
        case false?: return "unreachable: using the in-process limiter"
        }
    }

    func close() {
        closed = true
        redis.close()
    }

    /// A slot in `provider`'s shared window, or when to ask again; answered on the loop, never
    /// inside this call. `local` decides while Redis cannot.
    func takeSlot(provider: Provider, local: ProviderAdmission, answer: @escaping (ProviderAdmission.SlotDecision) -> Void) {
        grants &+= 1
        let block = local.blockRemaining(now: .monotonicNow)
        let keys = ["\(prefix):\(provider.rawValue):window", "\(prefix):\(provider.rawValue):block"]
        let args = [String(local.limit), String(local.window.roundedUpMilliseconds), String(max(0, block.roundedUpMilliseconds)),
                    "\(instanceTag)-\(grants)"]
        run(Self.slotScript, keys: keys, args: args) { [weak self] reply in
            guard let self, !self.closed else { return }
            if case .array(let items?) = reply, items.count == 2, case .integer(let granted) = items[0],
                case .integer(let waitMs) = items[1]
            {
                self.noteServing(true, nil)
                let now = LoopInstant.monotonicNow
                if granted == 1 {
                    // Recorded here too, for a later fallback; the shared answer stands either way.
                    _ = local.takeSlot(now: now)
                    answer(.granted(at: now))
                } else {
                    answer(.notBefore(now.advanced(by: .milliseconds(max(1, waitMs)))))
                }
                return
            }
            self.noteServing(false, reply)
            answer(local.takeSlot(now: .monotonicNow))
        }
    }

    /// Runs a script by its hash once loaded (EVALSHA), else with its text (EVAL), loading it for
    /// the next calls; a server that lost its scripts (NOSCRIPT) gets the text again.
    private func run(_ script: String, keys: [String], args: [String], _ done: @escaping (RESPValue?) -> Void) {
        let tail = [String(keys.count)] + keys + args
        if let sha = scriptSHAs[script] {
            redis.send(["EVALSHA", sha] + tail) { [weak self] result in
                if case .success(.error(let e)) = result, e.hasPrefix("NOSCRIPT") {
                    self?.scriptSHAs[script] = nil
                    self?.run(script, keys: keys, args: args, done)
                    return
                }
                done(try? result.get())
            }
            return
        }
        redis.send(["SCRIPT", "LOAD", script]) { [weak self] result in
            if case .success(let v) = result, case .bulk = v, let sha = v.text { self?.scriptSHAs[script] = sha }
        }
        redis.send(["EVAL", script] + tail) { result in done(try? result.get()) }
    }

    // MARK: concurrency leases

    enum LeaseAnswer {
        case leased(String)
        /// Every place is leased; ask again later.
        case full
        /// Redis cannot answer: the process's own cap decides.
        case unavailable
    }

    /// How long a lease lives unless refreshed: a crashed instance's places come back after it.
    static let leaseTTL = Duration.seconds(30)
    private var leaseCount: UInt64 = 0

    private func leaseKey(_ provider: Provider) -> String { "\(prefix):\(provider.rawValue):leases" }

    /// One of `cap` places shared by every instance; answered on the loop, never inside this call.
    func takeLease(provider: Provider, cap: Int, answer: @escaping (LeaseAnswer) -> Void) {
        leaseCount &+= 1
        let id = "\(instanceTag)-lease-\(leaseCount)"
        run(Self.leaseScript, keys: [leaseKey(provider)], args: [String(cap), String(Self.leaseTTL.roundedUpMilliseconds), id]) {
            [weak self] reply in
            guard let self, !self.closed else { return }
            if case .integer(let taken)? = reply {
                self.noteServing(true, nil)
                answer(taken == 1 ? .leased(id) : .full)
                return
            }
            self.noteServing(false, reply)
            answer(.unavailable)
        }
    }

    /// Extends the leases of streams still open.
    func refreshLeases(provider: Provider, ids: [String]) {
        guard !ids.isEmpty else { return }
        run(Self.refreshScript, keys: [leaseKey(provider)], args: [String(Self.leaseTTL.roundedUpMilliseconds)] + ids) { _ in }
    }

    func dropLease(provider: Provider, id: String) {
        redis.send(["ZREM", leaseKey(provider), id]) { _ in }
    }

    private func noteServing(_ now: Bool, _ reply: RESPValue?) {
        guard serving != now else { return }
        serving = now
        if now {
            log.info("rate-limit store connected", [("store", .string(address))])
        } else {
            let why: String
            switch reply {
            case .error(let e)?: why = e
            case nil: why = "\(redis.state)"
            default: why = "unexpected reply"
            }
            log.warning("rate-limit store unreachable: using the in-process limiter", [("store", .string(address)), ("reason", .string(why))])
        }
    }

    /// KEYS: the window's sorted set, the block key. ARGV: limit, window in ms, this instance's
    /// block in ms (extends the shared one, never shortens it), a unique member. Returns {1, 0}
    /// for a grant, else {0, ms until one may be free}.
    static let slotScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local limit = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local block = tonumber(ARGV[3])
        if block > 0 and redis.call('PTTL', KEYS[2]) < block then
          redis.call('SET', KEYS[2], '1', 'PX', block)
        end
        local left = redis.call('PTTL', KEYS[2])
        if left > 0 then return {0, left} end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
        local used = redis.call('ZCARD', KEYS[1])
        if used < limit then
          redis.call('ZADD', KEYS[1], now, ARGV[4])
          redis.call('PEXPIRE', KEYS[1], window)
          return {1, 0}
        end
        local oldest = redis.call('ZRANGE', KEYS[1], used - limit, used - limit, 'WITHSCORES')
        local wait = tonumber(oldest[2]) + window - now
        if wait < 1 then wait = 1 end
        return {0, wait}
        """
}

extension RedisAdmission {
    /// KEYS: the leases' sorted set (member: lease, score: its expiry). ARGV: cap, lifetime in ms,
    /// the new lease. Expired leases are dropped first. Returns 1 when leased, else 0.
    static let leaseScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local ttl = tonumber(ARGV[2])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
          redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
          redis.call('PEXPIRE', KEYS[1], ttl)
          return 1
        end
        return 0
        """

    /// KEYS: the leases' set. ARGV: lifetime in ms, then the leases to extend.
    static let refreshScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local ttl = tonumber(ARGV[1])
        for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
        redis.call('PEXPIRE', KEYS[1], ttl)
        return 1
        """
}

@available(*, unavailable)
extension RedisAdmission: Sendable {}
