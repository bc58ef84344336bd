import ProxyConfig
import UpstreamClient

extension UpstreamHTTPVersion {
    /// The client's type mirrors the setting's so that `UpstreamClient` needs no configuration
    /// module; the switch keeps the two in step at compile time.
    init(_ setting: Settings.Upstream.HTTPVersion) {
        switch setting {
        case .auto: self = .auto
        case .http1_1: self = .http1_1
        case .http2: self = .http2
        }
    }
}
