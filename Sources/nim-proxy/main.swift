print("nim-proxy: not wired yet")
