import EventLoop
import Metrics
import ProxyConfig
import StreamTranslation

extension ProxyMetrics {
    /// Records what an upstream stream did: each failed attempt under the outcome its error
    /// names, the served or abandoned end, retries, fallbacks and waits.
    public func record(_ observation: UpstreamObservation) {
        switch observation {
        case .rateLimitWait(let wait):
            rateLimitWait(seconds: wait.inSeconds)
        case .attemptFailed(let model, let error):
            upstreamRequest(model: model, outcome: error.map(Self.outcome(of:)) ?? .rateLimited, provider: Self.provider(of: model))
        case .retry(let reason):
            switch reason {
            case "rate_limited": retry(.rateLimit)
            case "connection": retry(.connection)
            case "completion_budget": retry(.completionBudget)
            default: break
            }
        case .fallback(let from, let to):
            fallback(from: from, to: to)
        case .firstContent(let after):
            firstContent(seconds: after.inSeconds)
        case .finished(.served(let model), _):
            upstreamRequest(model: model, outcome: .success, provider: Self.provider(of: model))
        case .finished(.clientGone, let model):
            upstreamRequest(model: model, outcome: .cancelled, provider: Self.provider(of: model))
        case .finished(.failed, _):
            // Its attempt was counted when it failed.
            break
        }
    }

    /// The `provider` label: the model name's provider prefix, else NIM.
    static func provider(of model: String) -> String {
        ProviderModel(parsing: model).provider.rawValue
    }

    /// The outcome label for a failed attempt, from the error the client would get.
    static func outcome(of error: UpstreamError) -> UpstreamOutcome {
        switch error.type {
        case .rateLimit: return .rateLimited
        case .overloaded: return .overloaded
        case .timeout: return .timeout
        case .invalidRequest:
            return error.completionBudget != nil || error.message.hasPrefix("prompt is too long") ? .contextLength : .clientError
        case .authentication, .permission, .notFound, .requestTooLarge: return .clientError
        case .api:
            if error.message == mapUpstreamError(status: nil, body: nil, transport: .connectionFailed).message {
                return .connectionError
            }
            if error.message.contains("instead of an event stream") || error.message.hasPrefix("Invalid JSON in upstream stream") {
                return .invalidResponse
            }
            if error.message == mapUpstreamError(status: nil, body: nil, transport: .streamInterrupted(detail: nil)).message {
                return .cut
            }
            return .serverError
        }
    }
}
