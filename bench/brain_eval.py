"""How well, and how fast, the embedded LLM answers simple spoken questions.

    .venv/bin/python -m bench.brain_eval                          # the configured default
    .venv/bin/python -m bench.brain_eval --model smollm2-135m-instruct --label smollm2
    .venv/bin/python -m bench.brain_eval --gguf /m/x.gguf --prompt concise --temperature 0
    .venv/bin/python -m bench.brain_eval --rescore       # after editing a pattern
    .venv/bin/python -m bench.brain_eval --translation   # a few phrases, to read by eye

Each question of `bench/brain_eval_set.json` (facts, arithmetic, following an instruction;
each with a regex that a right answer matches) is asked as a realtime session asks it: the
session's system prompt (`--prompt session`: the server's default instructions), one user
message, the backend's own sampling (its default temperature unless `--temperature`), the
project's `LlamaLLM` (shared KV cache, so the system prompt is a cached prefix after the
first question). A warm-up question goes first and is not counted.

Per model it reports the score (overall and per kind), the median first-token latency
(request → first text, cached system prompt), the median decode rate (tokens after the
first / time after the first) and the CPU and load average, and merges the figures under
`--label` into `bench/results/brain_eval.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.report import RESULTS, machine, median, print_table
from realtime2.backends.local.llama_backend import LlamaSettings, model_file
from realtime2.backends.local.llama_llm import LlamaLLM
from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import ChatMessage, LLMDone, LLMRequest, TextDelta
from realtime2.protocol.session_config import DEFAULT_INSTRUCTIONS
from realtime2.translation.pipeline import translation_request

EVAL_SET = Path(__file__).resolve().parent / "brain_eval_set.json"
OUTPUT = RESULTS / "brain_eval.json"
PROMPTS = {
    # What a realtime session sends when the client sets no instructions.
    "session": DEFAULT_INSTRUCTIONS,
    # Spelled out for a small model: answer first, exactly as asked, briefly.
    "concise": (
        "You are a helpful voice assistant. Give the correct answer first, in one short "
        "spoken sentence. Follow the user's instructions exactly: if they ask for one word "
        "or a number, reply with only that. Answer arithmetic with the number."
    ),
    # The session's own tone, plus what helps a 0.5B model most: restating the question
    # before the answer (it computes as it writes), instead of a bare number.
    "restate": (
        "You are a helpful, friendly voice assistant. Answer in one short, complete sentence "
        "that repeats the question's key words, then stop."
    ),
}
WARM_UP = "Hello, who are you?"
# `--translation`: phrases a live translation session might cut, for a look by eye.
PHRASES = (
    "Good morning, how are you today?",
    "The train to the airport leaves at half past nine.",
    "Could you tell me where the nearest pharmacy is?",
    "I would like a table for two, please.",
    "We will meet again next week to finish the report.",
)
TARGETS = ("French", "German", "Spanish")


@dataclass
class Answer:
    id: str
    kind: str
    passed: bool
    reply: str
    first_token_s: float
    total_s: float
    output_tokens: int
    cached_tokens: int


def passes(item: dict[str, Any], reply: str) -> bool:
    """The reply matches the item's `pattern` and not its `absent` pattern."""
    flags = re.DOTALL | (0 if item.get("case_sensitive") else re.IGNORECASE)
    text = reply.strip()
    if not re.search(item["pattern"], text, flags):
        return False
    absent = item.get("absent")
    return not (absent and re.search(absent, text, flags))


async def ask(
    llm: LlamaLLM, system: str, question: str, max_tokens: int, temperature: float | None
) -> tuple[str, float, float, int, int]:
    request = LLMRequest(
        [ChatMessage("system", system), ChatMessage("user", question)],
        max_tokens=max_tokens,
        temperature=temperature,
    )
    started = time.perf_counter()
    first = 0.0
    parts: list[str] = []
    output = cached = 0
    async for event in llm.stream(request):
        if isinstance(event, TextDelta):
            first = first or time.perf_counter() - started
            parts.append(event.text)
        elif isinstance(event, LLMDone) and event.usage is not None:
            output, cached = event.usage.output_tokens, event.usage.cached_tokens
    return "".join(parts), first, time.perf_counter() - started, output, cached


async def evaluate(
    llm: LlamaLLM,
    items: list[dict[str, Any]],
    system: str,
    max_tokens: int,
    temperature: float | None,
) -> list[Answer]:
    await ask(llm, system, WARM_UP, 8, temperature)  # evaluates (and caches) the system prompt
    answers = []
    for item in items:
        reply, first, total, output, cached = await ask(
            llm, system, item["question"], max_tokens, temperature
        )
        answers.append(
            Answer(
                item["id"], item["kind"], passes(item, reply), reply, first, total, output, cached
            )
        )
        mark = "ok " if answers[-1].passed else "BAD"
        print(f"  {mark} {item['id']:<16} {first:5.2f}s {reply.strip()[:90]!r}", flush=True)
    return answers


def summary(answers: list[Answer]) -> dict[str, Any]:
    kinds = sorted({a.kind for a in answers})
    rates = [
        (a.output_tokens - 1) / (a.total_s - a.first_token_s)
        for a in answers
        if a.output_tokens > 4 and a.total_s > a.first_token_s
    ]
    return {
        "score": round(sum(a.passed for a in answers) / len(answers), 3),
        "passed": sum(a.passed for a in answers),
        "questions": len(answers),
        "by_kind": {
            k: f"{sum(a.passed for a in answers if a.kind == k)}/"
            f"{sum(1 for a in answers if a.kind == k)}"
            for k in kinds
        },
        "first_token_s_median": round(
            median([a.first_token_s for a in answers if a.first_token_s]), 3
        ),
        "decode_tokens_per_s_median": round(median(rates), 1),
        "reply_tokens_median": median([float(a.output_tokens) for a in answers]),
    }


async def translations(llm: LlamaLLM) -> list[dict[str, str]]:
    """Each phrase through the translation path's own request (prompt, budget, sampling)."""
    out = []
    for target in TARGETS:
        for phrase in PHRASES:
            request = translation_request(phrase, source="English", target=target, history=[])
            parts = [e.text async for e in llm.stream(request) if isinstance(e, TextDelta)]
            text = "".join(parts).strip().split("\n")[0]
            out.append({"target": target, "source": phrase, "translation": text})
            print(f"  {target:<8} {phrase!r} -> {text!r}", flush=True)
    return out


def rescore() -> None:
    """Apply the current patterns to every stored reply; the timings stay as measured."""
    items = {i["id"]: i for i in json.loads(EVAL_SET.read_text())["items"]}
    merged = json.loads(OUTPUT.read_text())
    for label, result in merged.items():
        answers = [Answer(**a) for a in result["answers"]]
        for answer in answers:
            answer.passed = passes(items[answer.id], answer.reply)
        result.update(summary(answers), answers=[asdict(a) for a in answers])
        print(f"{label:<40} {result['passed']}/{result['questions']}  {result['by_kind']}")
    OUTPUT.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="packaged model name (REALTIME2_LLM_PACKAGED_MODEL)")
    parser.add_argument("--gguf", type=Path, help="any chat GGUF instead of a packaged model")
    parser.add_argument("--label", help="key for the results file (default: model name)")
    parser.add_argument("--prompt", choices=sorted(PROMPTS), default="session")
    parser.add_argument("--temperature", type=float, help="default: the backend's own")
    parser.add_argument("--max-tokens", type=int, default=80, help="reply budget per question")
    parser.add_argument("--threads", type=int, help="prompt threads (default: REALTIME2_THREADS)")
    parser.add_argument("--decode-threads", type=int, help="default: REALTIME2_LLM_DECODE_THREADS")
    parser.add_argument("--only", help="regex: ask only the questions whose id matches")
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="re-check the stored replies (after editing a pattern)",
    )
    parser.add_argument(
        "--translation", action="store_true", help="translate a few phrases instead (no score)"
    )
    args = parser.parse_args()
    if args.rescore:
        rescore()
        return

    settings = LlamaSettings()
    if args.model:
        settings = settings.model_copy(update={"packaged_model": args.model})
    if args.gguf:
        settings = settings.model_copy(update={"model_path": args.gguf})
    path, name = model_file(settings)
    threads = args.threads or EngineSettings().threads
    decode_threads = args.decode_threads or settings.decode_threads
    items = json.loads(EVAL_SET.read_text())["items"]
    if args.only:
        items = [i for i in items if re.search(args.only, i["id"])]
    load_before = os.getloadavg()
    started = time.perf_counter()
    llm = LlamaLLM.load(
        path,
        name=name,
        threads=threads,
        decode_threads=decode_threads,
        context_tokens=settings.context_tokens,
        default_max_tokens=settings.max_tokens,
        temperature=settings.temperature,
    )
    load_s = time.perf_counter() - started
    print(f"{name} ({path.name}), prompt {args.prompt}, loaded in {load_s:.1f} s")
    if args.translation:
        try:
            pairs = asyncio.run(translations(llm))
        finally:
            llm.close()
        path = RESULTS / "brain_translation.json"
        merged = json.loads(path.read_text()) if path.exists() else {}
        merged[args.label or name] = {"model": name, "machine": machine(), "phrases": pairs}
        path.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {path}")
        return
    try:
        answers = asyncio.run(
            evaluate(llm, items, PROMPTS[args.prompt], args.max_tokens, args.temperature)
        )
    finally:
        llm.close()
    result = {
        "model": name,
        "file": path.name,
        "prompt": args.prompt,
        "system_prompt": PROMPTS[args.prompt],
        "temperature": settings.temperature if args.temperature is None else args.temperature,
        "max_tokens": args.max_tokens,
        "threads": threads,
        "decode_threads": decode_threads,
        "load_s": round(load_s, 2),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "machine": machine(),
        **summary(answers),
        "answers": [asdict(a) for a in answers],
    }
    label = args.label or f"{name}/{args.prompt}"
    merged = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    merged[label] = result
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    print_table(
        f"brain eval: {label} on {result['machine']['cpu']} (load {load_before[0]:.2f})",
        ["score", "by kind", "first token (median)", "decode tok/s (median)"],
        [
            [
                f"{result['passed']}/{result['questions']}",
                " ".join(f"{k} {v}" for k, v in result["by_kind"].items()),
                f"{result['first_token_s_median']:.3f} s",
                result["decode_tokens_per_s_median"],
            ]
        ],
    )
    print(f"wrote {OUTPUT} [{label}]")


if __name__ == "__main__":
    main()
