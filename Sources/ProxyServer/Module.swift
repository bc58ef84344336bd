// Module ProxyServer: see the files beside this one.
