#!/usr/bin/env python3
"""Writes the expected outputs of Python's json module for the JSON tests.

Run from the repository root:  python3 scripts/gen_json_cases.py

Tests/JSONTests/Fixtures/python_dumps_cases.json holds {"cases": [{"name", "input",
"dumps"}]}: `input` is a JSON text, `dumps` is json.dumps(json.loads(input)).
Tests/JSONTests/Fixtures/python_dumps_fixtures.json maps each recorded Claude Code
request in Tests/Fixtures/claude-cli-2.1.332 to json.dumps(body).

The seed is fixed so the output only changes when this script does.
"""

import json
import math
import os
import random
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "Tests", "JSONTests", "Fixtures")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "claude-cli-2.1.332")

rng = random.Random(20240601)
cases = []


def add(name, text):
    value = json.loads(text)
    cases.append({"name": name, "input": text, "dumps": json.dumps(value)})


def add_value(name, value):
    add(name, json.dumps(value, ensure_ascii=False))


# Number literals written the many ways JSON allows.
for literal in [
    "0", "-0", "1", "-1", "42", "9223372036854775807", "-9223372036854775808",
    "9223372036854775808", "-9223372036854775809", "123456789012345678901234567890",
    "-98765432109876543210", "0.0", "-0.0", "1.0", "1.5", "-1.5", "0.1", "0.2",
    "0.30000000000000004", "1e0", "1E0", "1e+0", "1e-0", "1E5", "1e16", "1e15",
    "1e17", "9999999999999998", "1234567890123456.7", "12345678901234567.0",
    "0.0001", "0.00001", "0.000123", "0.0000123", "1e-4", "1e-5", "1.5e300",
    "-1.5e-300", "5e-324", "4.9e-324", "2.2250738585072014e-308",
    "1.7976931348623157e308", "1e400", "-1e400", "1e-400", "100", "100.0",
    "1e2", "123.456e7", "0.5e-10", "3.141592653589793", "2.718281828459045",
    "1e22", "1e23", "9007199254740993", "9007199254740993.0", "0.1e1",
    "10000000000000000.0", "999999999999999.9", "1000000000000000.1",
]:
    add("number " + literal, literal)

# Floats across magnitudes, as Python writes them and as random bit patterns.
for exponent in range(-330, 310, 7):
    for mantissa in (1.0, 1.5, 2.5, 9.999, 3.14159, 7.0):
        value = mantissa * 10.0 ** exponent if exponent > -300 else mantissa * 1e-300 * 10.0 ** (exponent + 300)
        if math.isfinite(value):
            add_value(f"float {mantissa}e{exponent}", value)
for i in range(150):
    bits = rng.getrandbits(64)
    value = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if math.isfinite(value):
        add_value(f"random float bits {bits:016x}", value)
for i in range(60):
    value = rng.uniform(-1000, 1000) * 10.0 ** rng.randint(-8, 20)
    add_value(f"random float {i}", value)
for i in range(40):
    value = rng.randint(-10**30, 10**30)
    add_value(f"random int {i}", value)

# Strings: escapes, controls, non-ASCII of every UTF-8 length, surrogate pairs.
strings = [
    "", "plain", "with \"quotes\"", "back\\slash", "slash / stays", "tab\there",
    "line\nbreak", "cr\rlf\n", "\b\f", "del \x7f stays", "nul \x00 byte",
    "".join(chr(c) for c in range(0x20)), "caf\u00e9", "\u00ff\u0100\u07ff\u0800",
    "\u4e2d\u6587\u5b57\u7b26", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "emoji \U0001F600 \U0001F680", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
    "max \U0010FFFF", "bmp edge \uffff \ufffe \ue000", "\u2028\u2029",
    "mixed \"\u00e9\"\n\t\U0001F600\\", "</script>", "\x1f\x1e\x0b",
]
for s in strings:
    add_value("string " + repr(s)[:40], s)
# Escaped forms in the input, decoded by the parser.
for text in [
    r'"\u00e9"', r'"\u4E2D"', r'"\ud83d\ude00"', r'"\uD83D\uDE00"', r'"\/"',
    r'"\b\f\n\r\t\"\\"', r'"a\u0000b"', r'"\u001f"', r'"\u007f"', r'"\uffff"',
    r'"x\ud834\udd1ey"',
]:
    add("escaped " + text, text)

# Containers, nesting, whitespace and duplicate keys.
for text in [
    "[]", "{}", "[[]]", "[{}]", '{"a":{}}', ' [ 1 , 2 , 3 ] ', '\n\t{ "a" : 1 ,\r\n "b" : [ ] }\n',
    '{"a":1,"b":2,"a":3}', '{"x":1,"y":{"z":[1,2,{"w":null}]},"x":[true,false]}',
    '[true,false,null]', '{"": ""}', '{"\u00e9": "\u00e9"}', '{"a": [1.0, 2, "3", null, {"b": -0.0}]}',
    "[" * 100 + "]" * 100,
    '{"k":' * 50 + "1" + "}" * 50,
]:
    add("container " + text[:40], text)


def random_value(depth):
    kind = rng.randint(0, 9 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-10**6, 10**6)
    if kind == 3:
        return rng.uniform(-1e6, 1e6)
    if kind in (4, 5):
        alphabet = "abc xyz\"\\\n\t/\u00e9\u4e2d\U0001F600\x01\x7f"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
    if kind in (6, 7):
        return [random_value(depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        "".join(rng.choice("abcde\u00e9") for _ in range(rng.randint(0, 4))): random_value(depth + 1)
        for _ in range(rng.randint(0, 4))
    }


for i in range(80):
    add_value(f"random structure {i}", random_value(0))

os.makedirs(DATA, exist_ok=True)
with open(os.path.join(DATA, "python_dumps_cases.json"), "w", encoding="utf-8") as f:
    json.dump({"cases": cases}, f, ensure_ascii=False, indent=0)
    f.write("\n")

fixtures = {}
for name in sorted(os.listdir(FIXTURES)):
    if name.endswith(".json"):
        with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
            fixtures[name] = json.dumps(json.load(f)["body"])
with open(os.path.join(DATA, "python_dumps_fixtures.json"), "w", encoding="utf-8") as f:
    json.dump(fixtures, f, ensure_ascii=False, indent=0)
    f.write("\n")

print(f"{len(cases)} cases, {len(fixtures)} fixtures")
