#!/usr/bin/env python3
"""Builds Tests/TokenizerTests/Fixtures/corpus.jsonl: strings and the ids tiktoken's cl100k_base
`encode_ordinary` gives them, the expected data of the Swift tokenizer's tests.

Runs offline: tiktoken reads the ranks file this project bundles, copied into a temporary cache
directory under the name tiktoken looks for. Needs `pip install tiktoken`.

Usage: gen_tokenizer_corpus.py [--ranks FILE] [--fixtures DIR] [--out FILE]
(defaults are the project's own files, found relative to this script).
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# tiktoken caches a download under the sha1 of its URL; this is cl100k_base's.
CACHE_NAME = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
SEED = 20240611


def load_encoding(ranks: Path):
    cache = tempfile.mkdtemp(prefix="tiktoken-cache-")
    shutil.copyfile(ranks, os.path.join(cache, CACHE_NAME))
    os.environ["TIKTOKEN_CACHE_DIR"] = cache
    import tiktoken

    return tiktoken.get_encoding("cl100k_base"), cache


def fixture_strings(fixtures: Path):
    out = []

    def walk(v):
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for k, x in v.items():
                out.append(k)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for path in sorted(fixtures.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        walk(doc)
        # Also the body as count_tokens would see serialized parts of it.
        body = doc.get("body")
        if isinstance(body, dict):
            for key in ("tools", "system", "messages"):
                if key in body:
                    out.append(json.dumps(body[key]))
    return out


PROSE = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! How are you doing today?",
    "It's a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
    "I'm sure they'll say we'd've done it if we'd known. You're right; they've gone.",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.",
    "Please refactor the function so that it returns early when the input is empty.",
    "Claude Code is an agentic coding tool that lives in your terminal.",
    "Version 2.1.332 was released on 2025-11-25 at 12:14:07 UTC (build #99821).",
    "E-mail me at someone@example.com or visit https://example.org/path?q=1&x=y#frag.",
    "  Indented line with trailing spaces   ",
]

CODE = [
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "import os\nimport sys\n\nif __name__ == '__main__':\n\tsys.exit(main(sys.argv[1:]))\n",
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}\n",
    "#include <stdio.h>\nint main(void) {\n    printf(\"%d\\n\", 42);\n    return 0;\n}\n",
    "func greet(_ name: String) -> String {\n    return \"Hello, \\(name)!\"\n}\n",
    "const add = (a, b) => a + b;\nexport default { add };\n// TODO: more\n",
    "SELECT id, name FROM users WHERE created_at >= '2024-01-01' ORDER BY id DESC LIMIT 10;",
    "<div class=\"card\">\n  <p>Hi &amp; bye</p>\n</div>\n",
    "{\"type\": \"tool_use\", \"id\": \"toolu_01\", \"input\": {\"path\": \"/a/b.txt\"}}",
    "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo \"$f\"; done\n",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n",
    "  x += 1;\r\n  y -= 2;\r\n}\r\n",
    "if (a != b && c <= d || !e) { return a ?? b; }",
    "diff --git a/x b/x\n@@ -1,3 +1,4 @@\n-old\n+new\n context\n",
]

UNICODE = [
    "Café naïve résumé coöperate façade jalapeño Ångström Øresund Straße ĳ",
    "Zoë's piñata — “quotes” ‘single’ … ‹› «» ¿¡",
    "日本語のテキストです。東京は晴れ。",
    "中文文本测试：你好，世界！",
    "한국어 텍스트 테스트입니다.",
    "مرحبا بالعالم، هذا نص عربي.",
    "שלום עולם, זה טקסט בעברית.",
    "नमस्ते दुनिया, यह हिंदी पाठ है।",
    "สวัสดีชาวโลก นี่คือข้อความภาษาไทย",
    "Привет, мир! Это русский текст.",
    "Γειά σου Κόσμε! Ελληνικό κείμενο.",
    "👋🌍 emoji 😀😃😄 👍🏽 ❤️ 👨‍👩‍👧‍👦 🏳️‍🌈 🇺🇸🇯🇵🇩🇪 🧑🏿‍💻",
    "mixed: abc日本def123مرحبا456שלום👍x",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "math: ∀x∈ℝ, x² ≥ 0; ∑ᵢ aᵢ ≈ π ½ ⅓ Ⅻ ① ٣٤٥ ๑๒๓ १२३",
    "combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0352",
    "zero width: a\u200bb\u200cc\u200dd\ufeffe",
    "Kelvin \u212a and long s \u017f and 'ſ 'ſtrong 'K",
    "\U0001d400\U0001d401 \U00020000\U0002a6d6 \U0001f600\U0001f9d1",
]

WS_CHARS = [" ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085", "\u000b", "\u000c",
            "\u2003", "\u202f", "\u205f", "\u1680", "\u180e", "\u200b"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["…", "—", "«", "»", "¿", "§", "©", "™", "→", "•"]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]


def generated(rng: random.Random):
    out = []
    out += PROSE + CODE + UNICODE
    out += ["", " ", "  ", "\n", "\r\n", "\t", "a", "1", "!", "'", "''", "'s", "<|endoftext|>",
            "<|endoftext|> and <|fim_prefix|><|fim_middle|><|fim_suffix|><|endofprompt|>"]

    # Contractions in every case, in context and alone.
    for c in CONTRACTIONS:
        for variant in sorted({c, c.upper(), c.capitalize(), c[:2] + c[2:].upper(), "'" + c[1:].swapcase()}):
            out += [variant, "it" + variant, "it" + variant + "s", "x " + variant + " y", "!" + variant,
                    " " + variant, "\n" + variant + "\n", "1" + variant, variant + variant]

    # Whitespace runs: every length-2 and some length-3 combinations in context.
    for a in WS_CHARS:
        for b in WS_CHARS:
            out += ["x" + a + b, a + b + "x", "x" + a + b + "y", a + b]
    for _ in range(400):
        run = "".join(rng.choice(WS_CHARS) for _ in range(rng.randint(1, 8)))
        ctx = rng.choice(["{}", "a{}", "{}a", "a{}b", "!{}", "{}!", "1{}2", "{}\u00e9", "日{}本"])
        out.append(ctx.format(run))
    for n in (1, 2, 3, 4, 5, 8, 16, 17, 31, 64, 100, 127, 128, 129, 200, 255, 256, 257, 1000):
        out += [" " * n, "x" + " " * n, " " * n + "x", "\n" * n, "\t" * n, "\r\n" * (n // 2 + 1),
                "a" + " " * n + "b", "a" + "\n " * n]
    out += ["trailing  \n", "trailing\n  ", "a\n \n  ", "a \n", "\n\n\n   ", "x\r\n\r\n  ", " \n \n x"]

    # Digits and long numbers.
    for n in range(1, 25):
        out.append("".join(rng.choice("0123456789") for _ in range(n)))
    out += ["3.14159265358979", "1,234,567.89", "-42", "+1e-10", "0x1F2E3D", "2024-01-01T00:00:00Z",
            "v1.2.3-beta.4", "127.0.0.1:8082", "٣٤٥٦٧", "१२३४५", "１２３４５", "Ⅻ", "²³¹", "1st 2nd 3rd 4th"]

    # Punctuation runs, alone and followed by newlines.
    for _ in range(200):
        p = "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 6)))
        tail = rng.choice(["", "\n", "\n\n", "\r\n", "\r\n\r\n", " \n", "x", " x", "\n x"])
        head = rng.choice(["", " ", "  ", "a", "a ", "\n"])
        out.append(head + p + tail)

    # Long repetitions.
    for ch in ["a", "ab", "!", "!!", ".", "-", "=", "*", "#", "ー", "日", "😀", "é", "0", "\u00a0", "_", "/"]:
        for n in (10, 33, 100, 500):
            out.append(ch * n)
    out += ["a" * 3000, " " * 1000, "!" * 2000, "\n" * 500, "ab" * 1500, "-" * 1000 + "\n"]

    # Words with every kind of prefix character.
    for prefix in [" ", "\t", "\u00a0", "\u3000", "!", "'", "\"", "(", "1", "\n", "\r", "_", "é", "😀"]:
        for word in ["hello", "World", "ÉCOLE", "日本", "مرحبا", "s", "ll"]:
            out += [prefix + word, "x" + prefix + word, prefix + prefix + word]

    # Random mixtures of pieces from all of the above.
    alphabet = PROSE + CODE + UNICODE + WS_CHARS + PUNCT + CONTRACTIONS + ["123", "4567", "x", "Ab"]
    for _ in range(500):
        out.append("".join(rng.choice(alphabet)[: rng.randint(1, 12)] for _ in range(rng.randint(1, 12))))

    # Random byte-ish strings: code points from ASCII controls through astral planes.
    ranges = [(0x00, 0x7F), (0x80, 0x24F), (0x300, 0x36F), (0x370, 0x1FFF), (0x2000, 0x2BFF), (0x3000, 0x9FFF),
              (0xAC00, 0xD7A3), (0xE000, 0xFFFD), (0x10000, 0x1FFFF), (0x20000, 0x2FFFF), (0xE0000, 0xE01EF)]
    for _ in range(600):
        chars = []
        for _ in range(rng.randint(1, 24)):
            lo, hi = rng.choice(ranges)
            chars.append(chr(rng.randint(lo, hi)))
        out.append("".join(chars))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=Path, default=ROOT / "CL100KRanks/cl100k_base.tiktoken")
    ap.add_argument("--fixtures", type=Path, default=ROOT / "Tests/Fixtures/claude-cli-2.1.332")
    ap.add_argument("--out", type=Path, default=ROOT / "Tests/TokenizerTests/Fixtures/corpus.jsonl")
    args = ap.parse_args()

    enc, cache = load_encoding(args.ranks)
    try:
        rng = random.Random(SEED)
        texts = generated(rng) + fixture_strings(args.fixtures)
        seen = set()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            for text in texts:
                if text in seen:
                    continue
                seen.add(text)
                f.write(json.dumps({"text": text, "tokens": enc.encode_ordinary(text)}, ensure_ascii=False))
                f.write("\n")
        print(f"{len(seen)} entries -> {args.out} ({args.out.stat().st_size} bytes)", file=sys.stderr)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
