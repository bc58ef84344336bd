#!/usr/bin/env python3
"""Writes the fixtures' text to a file and times tiktoken's cl100k_base on it, one thread.

usage: tiktoken_bench.py FIXTURES_DIR TEXT_OUT SECONDS   (TIKTOKEN_CACHE_DIR must hold the ranks file)
Prints one JSON object: bytes, tokens, iterations, mb_per_s.
"""

import json
import os
import sys
import time

import tiktoken


def strings(value):
    """Every string in a JSON value, in document order: the text count_tokens tokenizes."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)


def main():
    fixtures, out_path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    parts = []
    for name in sorted(os.listdir(fixtures)):
        if name.endswith(".json"):
            with open(os.path.join(fixtures, name)) as f:
                parts.extend(strings(json.load(f)["body"]))
    text = "\n".join(parts)
    with open(out_path, "w") as f:
        f.write(text)
    encoding = tiktoken.get_encoding("cl100k_base")
    tokens = len(encoding.encode_ordinary(text))  # warm-up, outside the clock
    iterations = 0
    start = time.perf_counter()
    while True:
        assert len(encoding.encode_ordinary(text)) == tokens
        iterations += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and iterations >= 3:
            break
    size = len(text.encode())
    print(json.dumps({"bytes": size, "tokens": tokens, "iterations": iterations,
                      "mb_per_s": size * iterations / elapsed / 1e6}))


if __name__ == "__main__":
    main()
