#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets, fuzz/corpus/<target>/, from the test fixtures.

Run from anywhere: python3 fuzz/make-corpus.py. The seeds are committed; rerun this when the
fixtures change. Seeds are kept small (long strings and tool lists cut) because libFuzzer
mutates small inputs faster and the structure, not the bulk, is what leads it somewhere.
"""
import hashlib
import json
import os
import re
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
CLAUDE_REQUESTS = os.path.join(ROOT, "Tests", "Fixtures", "claude-cli-2.1.332")
JSON_CASES = os.path.join(ROOT, "Tests", "JSONTests", "Fixtures", "python_dumps_cases.json")
SCENARIOS = os.path.join(ROOT, "Tests", "StreamTranslationTests", "Fixtures", "reference-streams", "scenarios.json")
README = os.path.join(ROOT, "README.md")

# Targets whose first input byte chooses how the rest is cut into pieces (FuzzSupport's
# `splitRanges`): one seed per cut style.
CONTROL_BYTES = [0x00, 0x40, 0x7F, 0x80, 0x82, 0x90]


def shrink(value, depth=0):
    """The fixture's shape with long strings cut and long lists shortened."""
    if isinstance(value, str):
        return value[:60]
    if isinstance(value, list):
        return [shrink(v, depth + 1) for v in value[:4]]
    if isinstance(value, dict):
        return {k: shrink(v, depth + 1) for k, v in value.items()}
    return value


class Corpus:
    def __init__(self, name):
        self.dir = os.path.join(CORPUS, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.seen = set()

    def add(self, label, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        digest = hashlib.sha1(data).hexdigest()
        if digest in self.seen:
            return
        self.seen.add(digest)
        label = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40]
        with open(os.path.join(self.dir, f"{label}-{digest[:8]}"), "wb") as f:
            f.write(data)


def claude_requests():
    out = []
    for name in sorted(os.listdir(CLAUDE_REQUESTS)):
        with open(os.path.join(CLAUDE_REQUESTS, name)) as f:
            out.append((name, shrink(json.load(f))))
    return out


# Small requests for what the captured ones lack: each local answer, every content block kind,
# the system prompt's two forms, thinking, tool choice, and refusals.
HANDMADE_REQUESTS = [
    {"model": "claude-3-5-haiku-20241022", "max_tokens": 1, "messages": [{"role": "user", "content": "quota"}]},
    {"model": "claude-sonnet-4", "messages": [{"role": "user", "content": "Command: git status\nOutput: "}],
     "system": "Your task is to process Bash commands. <policy_spec>prefix</policy_spec>"},
    {"model": "claude-opus-4", "messages": [{"role": "user", "content": "hi"}],
     "system": [{"type": "text", "text": "Please write a 5-10 word title for the following conversation"}]},
    {"model": "claude-haiku", "stream": True, "temperature": 0.5, "top_p": 1.0, "top_k": 5,
     "stop_sequences": ["\n\nHuman:"], "metadata": {"user_id": "u"},
     "thinking": {"type": "enabled", "budget_tokens": 1024},
     "tool_choice": {"type": "tool", "name": "Read", "disable_parallel_tool_use": True},
     "tools": [{"name": "Read", "description": "d", "input_schema": {"type": "object", "properties": {"p": {"type": "string"}}}}],
     "messages": [
         {"role": "user", "content": [{"type": "text", "text": "read it"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]},
         {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                                            {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"p": "a"}}]},
         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "x"}], "is_error": False}]},
         {"role": "system", "content": "be brief"},
     ]},
    {"model": "gpt-4o", "max_tokens": 1.0, "messages": [{"role": "user", "content": "[SUGGESTION MODE: x]"}],
     "extra_body": {"top_k": 3, "model": "other"}},
    {"model": "x", "messages": []},
    {"model": 1, "messages": [{"role": "bot", "content": None}]},
    {"messages": [{"role": "user", "content": [{"type": "tool_result"}]}], "max_tokens": 9223372036854775808},
]


def write_json_corpus():
    c = Corpus("json-parser")
    with open(JSON_CASES) as f:
        cases = [case for case in json.load(f)["cases"] if len(case["input"]) <= 4096]
    # A few cases of each kind (numbers, floats, strings, escapes, containers...), not all.
    kinds = {}
    for case in cases:
        kinds.setdefault(case["name"].split(" ")[0], []).append(case)
    for same in kinds.values():
        for case in same[::max(1, len(same) // 12)]:
            c.add("case-" + case["name"], case["input"])
    for i, text in enumerate(['{"a": 1,}', '[1, 2', '"\\ud800"', '"\\ud83d\\u0041"', 'NaN', '1e400',
                              '-', '0.', '01', '{"a": 1, "a": 2}', '\ufeff[]', '[' * 600 + ']' * 600]):
        c.add(f"edge-{i}", text)
    for name, request in claude_requests()[:2]:
        c.add(name, json.dumps(request))
    with open(SCENARIOS) as f:
        for name, scenario in json.load(f).items():
            c.add("chunk-" + name, json.dumps(scenario["chunks"][0]))


def write_request_corpus():
    c = Corpus("request-decoding")
    for name, request in claude_requests():
        c.add(name, json.dumps(request))
    for i, request in enumerate(HANDMADE_REQUESTS):
        c.add(f"handmade-{i}", json.dumps(request))


def sse_body(scenario, line_end="\n"):
    events = [json.dumps(chunk) for chunk in scenario["chunks"]]
    if isinstance(scenario.get("error"), dict):
        events.append(json.dumps({"error": scenario["error"]}))
    body = "".join(f"data: {e}{line_end}{line_end}" for e in events)
    return body + f"data: [DONE]{line_end}{line_end}"


def write_sse_corpus():
    c = Corpus("sse-translator")
    with open(SCENARIOS) as f:
        scenarios = json.load(f)
    for i, (name, scenario) in enumerate(scenarios.items()):
        control = CONTROL_BYTES[i % len(CONTROL_BYTES)]
        c.add(name, bytes([control]) + sse_body(scenario).encode())
    # The other line ends, comments and multi-line data the parser must take.
    text = scenarios["text"]
    c.add("crlf", bytes([0x81]) + sse_body(text, "\r\n").encode())
    c.add("cr", bytes([0x20]) + sse_body(text, "\r").encode())
    c.add("comments", b"\x83\xef\xbb\xbf: keep-alive\nevent: x\nid: 1\nretry: 5\ndata: {\"choices\":\ndata: []}\n\ndata: [DONE]\n\n")
    c.add("malformed", b"\x10data: {\"choices\": [\n\n")
    # Upstream error bodies (the target also maps its input as one): context-length refusals in
    # several servers' words, a completion-budget refusal, an HTML error page.
    refusals = [
        "This model's maximum context length is 131072 tokens. However, you requested 250000 tokens "
        "(249000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.",
        "'max_tokens' or 'max_completion_tokens' is too large: 81920. This model's maximum context length is "
        "131072 tokens and your request has 60000 input tokens (81920 > 131072 - 60000).",
        "This endpoint's maximum context length is 163840 tokens. However, you requested about 200000 tokens "
        "(180000 of text input, 4000 of tool input, 16000 in the output).",
        "Prompt length (200000) exceeds maximum input length (131072)",
        "Input validation error: `inputs` must have less than 4096 tokens. Given: 5000",
    ]
    for i, message in enumerate(refusals):
        c.add("context-length", bytes([CONTROL_BYTES[i % len(CONTROL_BYTES)] | 1]) + json.dumps({"error": {"message": message}}).encode())
    c.add("html-error", b"\x02<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1>nginx</body></html>")


def texts_from_scenarios():
    with open(SCENARIOS) as f:
        scenarios = json.load(f)
    out = []
    for name, scenario in scenarios.items():
        content = "".join(
            (choice.get("delta") or {}).get("content") or ""
            for chunk in scenario["chunks"] for choice in chunk.get("choices") or [])
        if content:
            out.append((name, content))
    return out


def write_text_corpora():
    think = Corpus("think-tag-parser")
    tool = Corpus("heuristic-tool-parser")
    samples = texts_from_scenarios() + [
        ("nested", "<think>a<think>b</think>c</think>d"),
        ("orphan", "text</think> more <thi"),
        ("unicode", "<think>é🤔</think>ü\u0301"),
        ("call", "Let's call a tool. ● <function=Grep><parameter=pattern>hello</parameter><parameter=path>.</parameter>"),
        ("two-calls", "● <function=Bash><parameter=command>ls -la</parameter></function> ● <function=Read><parameter=p>x"),
        ("tokens", "Before <|tool_calls_section_end|> ● <function=Grep><parameter=pattern>hi</parameter> After <|im_end"),
        ("bullet-text", "●  not a call ● <func"),
    ]
    for i, (name, text) in enumerate(samples):
        control = CONTROL_BYTES[i % len(CONTROL_BYTES)]
        think.add(name, bytes([control]) + text.encode())
        tool.add(name, bytes([control]) + text.encode())


def write_dotenv_corpus():
    c = Corpus("dotenv")
    with open(README) as f:
        readme = f.read()
    table = readme.split("<!-- settings-table:begin -->")[1].split("<!-- settings-table:end -->")[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| `([^`]*)` \|", table, re.M)
    if rows:
        c.add("defaults", "".join(f"{key}={value}\n" for key, value in rows))
        c.add("quoted", "".join(f"export {key}=\"{value}\" # default\n" for key, value in rows[:8]))
    c.add("grammar", "# comment\nA=1\nexport B=two words  # trailing\nC=\"quoted # not\" # c\nF=\nG\n H = spaced \nI=a#b\n"
                     "D='single \\n literal'\nE=\"esc \\n \\\" \\t \\\\ end\"\nM=\"multi\nline\"\n'K'=v\nK=\"x\" junk\n")
    c.add("ranges", "PORT=99999999999999999999\nHTTP_HEADER_TIMEOUT=1e300\nHTTP_IDLE_TIMEOUT=-1\n"
                    "NVIDIA_NIM_TEMPERATURE=nan\nNVIDIA_NIM_UNKNOWN=1\nNVIDIA_NIM_RATE_LIMIT=0\nLOG_LEVEL=loud\n")
    c.add("crlf", "PORT=8082\r\nHOST=0.0.0.0\r\nNVIDIA_NIM_API_KEY='nvapi-x'\r\n")


def main():
    write_json_corpus()
    write_request_corpus()
    write_sse_corpus()
    write_text_corpora()
    write_dotenv_corpus()
    for name in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, name))
        size = sum(os.path.getsize(os.path.join(CORPUS, name, f)) for f in files)
        print(f"{name}: {len(files)} seeds, {size} bytes")


if __name__ == "__main__":
    main()
