print("scripted-upstream: not built yet")
