"""Request features: what a router knows about a request, extracted once with regular expressions only.

`extract_features` reads an OpenAI chat body and returns a frozen `Features`. It looks at the last user
message for the task and its difficulty, and at the whole conversation for size, images, tools and turns.
It must stay well under a millisecond for a typical request (`bench/features_bench.py` measures it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TASK_TYPES = ("code", "math", "reasoning", "creative", "summarization", "translation", "tool_use", "chat")

# Characters per token for the estimate; providers' tokenizers land between 3 and 4.5 on English and code.
CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 765  # what OpenAI bills for one 512x512 tile plus the base, a fair middle for an image
# Only this much of the last user message is scanned: the task shows at the start and the end.
SCAN_HEAD = 3000
SCAN_TAIL = 1000


@dataclass(frozen=True, slots=True)
class Features:
    """What a router sees of a request: never the raw HTTP request."""

    task_type: str
    difficulty: float  # 0 (trivial) .. 1 (hard)
    natural_language: str  # ISO 639-1 code by script ("en", "zh", "ja", "ko", "ru", "ar", ...) or "other"
    programming_language: str | None
    estimated_tokens: int  # the whole prompt, all messages, images included
    has_images: bool
    image_count: int
    has_tools: bool
    turns: int  # user messages in the conversation
    message_count: int
    wants_json: bool
    max_output_tokens: int | None
    query: str  # text of the last user message: what learned routers embed


_CODE_FENCE = "```"
# Keyword families, matched against the set of lower-cased words of the scanned text (Python's regex engine
# with IGNORECASE and long alternations costs ~100 us per kB per pattern; a set lookup per word does not).
_CODE_WORDS = frozenset(
    "def class import function return const let var include traceback exception stacktrace compile compiler "
    "refactor bug debug regex api endpoint python javascript typescript java rust golang kotlin swift sql bash "
    "implement implementation algorithm script code segfault null pointer repo git".split()
)
_CODE_PHRASES = ("unit test", "stack trace", "c++", "public static", "#include", "select ")
_MATH_WORDS = frozenset(
    "solve equation integral derivative prove theorem lemma probability matrix eigenvalue eigenvalues calculate "
    "compute percent factorial prime polynomial geometry triangle algebra calculus arithmetic".split()
)
_MATH_PHRASES = ("how many", "how much", "sum of", "\\frac", "\\int", "\\sum")
_MATH_EXPRESSION = re.compile(r"\d\s*[-+*/^=]\s*\d")
_REASONING_WORDS = frozenset(
    "why explain compare analyze analyse reason tradeoff tradeoffs evaluate justify implication implications "
    "think cause argue design".split()
)
_REASONING_PHRASES = ("step by step", "pros and cons", "which is better", "difference between", "trade-off")
_CREATIVE_WORDS = frozenset("story poem haiku lyrics fiction creative imagine brainstorm slogan novel limerick".split())
_SUMMARY_WORDS = frozenset("summarize summarise summary tldr condense shorten".split())
_SUMMARY_PHRASES = ("key points", "tl;dr")
_TRANSLATE_WORDS = frozenset("translate translation".split())
_HARD_WORDS = frozenset(
    "prove proof optimize optimise complex rigorous concurrency concurrent distributed architecture formal derive "
    "asymptotic complexity deadlock scalability scalable security thorough detailed multistep".split()
)
_HARD_PHRASES = ("edge case", "step by step", "race condition", "in depth", "multi-step")
_EASY_OPENERS = frozenset("hi hello hey thanks thank ok okay yes no".split())
_EASY_PHRASES = ("what is", "define ", "quick ")
_WORD = re.compile(r"[a-z][a-z0-9+#]*")
_LANGUAGE_FENCE = re.compile(r"```([A-Za-z0-9+#-]+)")
_PROGRAMMING_LANGUAGES = (
    ("python", ("python", "def ", "import ", ".py", "pip install")),
    ("typescript", ("typescript", ".ts", "interface ")),
    ("javascript", ("javascript", "node.js", "nodejs", "const ", "=> {", ".js", "npm ")),
    ("rust", ("rust", "fn ", "cargo ", ".rs", "impl ")),
    ("go", ("golang", "func ", "go test", "go build", "go run", ".go")),
    ("java", ("java", "public static void", ".java")),
    ("cpp", ("c++", "#include", "std::", ".cpp")),
    ("sql", ("sql", "select ", "insert into", "create table")),
    ("shell", ("bash", "shell script", ".sh")),
)
_SCRIPTS = (
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)
_LATIN_WORD = re.compile(r"[A-Za-z]{2}")


def message_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "") for part in content if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""


def _count_images(content: Any) -> int:
    if not isinstance(content, list):
        return 0
    return sum(1 for part in content if isinstance(part, Mapping) and part.get("type") == "image_url")


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    return len(message_text(content))


def _scan_window(text: str) -> str:
    if len(text) <= SCAN_HEAD + SCAN_TAIL:
        return text
    return text[:SCAN_HEAD] + "\n" + text[-SCAN_TAIL:]


@dataclass(frozen=True, slots=True)
class _Scan:
    """The scanned text once lower-cased and split into words: every cue is looked up here."""

    lower: str
    words: frozenset[str]

    @classmethod
    def of(cls, text: str) -> _Scan:
        lower = text.lower()
        return cls(lower, frozenset(_WORD.findall(lower)))

    def has(self, words: frozenset[str], phrases: tuple[str, ...] = ()) -> bool:
        return not self.words.isdisjoint(words) or any(p in self.lower for p in phrases)

    def count(self, words: frozenset[str], phrases: tuple[str, ...] = ()) -> int:
        return len(self.words & words) + sum(p in self.lower for p in phrases)


def classify_task(scan: _Scan, has_tools: bool) -> str:
    """The task type of a prompt; the first matching family wins, in order of how much it changes routing."""
    if _CODE_FENCE in scan.lower or scan.count(_CODE_WORDS, _CODE_PHRASES) >= 2:
        return "code"
    if scan.has(_MATH_WORDS, _MATH_PHRASES) or _MATH_EXPRESSION.search(scan.lower):
        return "math"
    if scan.has(_TRANSLATE_WORDS):
        return "translation"
    if scan.has(_SUMMARY_WORDS, _SUMMARY_PHRASES):
        return "summarization"
    if scan.has(_CREATIVE_WORDS):
        return "creative"
    if scan.has(_CODE_WORDS, _CODE_PHRASES):
        return "code"
    if scan.has(_REASONING_WORDS, _REASONING_PHRASES):
        return "reasoning"
    if has_tools:
        return "tool_use"
    return "chat"


def estimate_difficulty(scan: _Scan, task_type: str, total_tokens: int) -> float:
    """A rough 0..1 difficulty: length, hard and easy cue words, task family."""
    text = scan.lower
    score = 0.15
    score += min(len(text) / 4000, 0.25)
    score += min(scan.count(_HARD_WORDS, _HARD_PHRASES) * 0.12, 0.48)
    if task_type in ("math", "code", "reasoning"):
        score += 0.12
    if text.count("?") >= 3 or text.count("\n- ") + text.count("\n1.") >= 3:
        score += 0.08
    if total_tokens > 8000:
        score += 0.08
    if len(text) < 200:
        first = text.split(maxsplit=1)[:1]
        if (first and first[0].strip("!.,?") in _EASY_OPENERS) or any(p in text for p in _EASY_PHRASES):
            score -= 0.2
    return round(min(max(score, 0.0), 1.0), 3)


def detect_natural_language(text: str) -> str:
    sample = text[:400]
    for code, pattern in _SCRIPTS:
        if len(pattern.findall(sample)) >= 3:
            return code
    return "en" if _LATIN_WORD.search(sample) else "other"


def detect_programming_language(scan: _Scan, text: str) -> str | None:
    fence = _LANGUAGE_FENCE.search(text)
    if fence:
        return fence.group(1).lower()
    for name, cues in _PROGRAMMING_LANGUAGES:
        if any(cue in scan.lower for cue in cues):
            return name
    return None


def extract_features(body: Mapping[str, Any]) -> Features:
    messages: Sequence[Any] = body.get("messages") or ()
    chars = 0
    images = 0
    turns = 0
    query = ""
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        content = message.get("content")
        chars += _content_chars(content)
        images += _count_images(content)
        if message.get("role") == "user":
            turns += 1
            query = message_text(content)
    tools = body.get("tools") or body.get("functions")
    has_tools = bool(tools)
    if has_tools:
        chars += len(str(tools))
    estimated_tokens = chars // CHARS_PER_TOKEN + images * IMAGE_TOKENS
    window = _scan_window(query)
    scan = _Scan.of(window)
    task_type = classify_task(scan, has_tools)
    response_format = body.get("response_format")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    return Features(
        task_type=task_type,
        difficulty=estimate_difficulty(scan, task_type, estimated_tokens),
        natural_language=detect_natural_language(window),
        programming_language=detect_programming_language(scan, window) if task_type == "code" else None,
        estimated_tokens=estimated_tokens,
        has_images=images > 0,
        image_count=images,
        has_tools=has_tools,
        turns=turns,
        message_count=len(messages),
        wants_json=isinstance(response_format, Mapping) and response_format.get("type") != "text",
        max_output_tokens=max_tokens if isinstance(max_tokens, int) else None,
        query=query,
    )
