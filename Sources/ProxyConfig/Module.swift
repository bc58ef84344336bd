// Module ProxyConfig: see the files beside this one.
