// Module RateLimit: see the files beside this one.
