// Module AnthropicAPI: see the files beside this one.
