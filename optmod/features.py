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


_CODE_FENCE = re.compile(r"```")
_CODE_HINTS = re.compile(
    r"\b(def |class |import |function\b|return\b|const |let |var |public static|#include|SELECT\b.*\bFROM\b|"
    r"stack ?trace|traceback|exception|compile|refactor|bug|debug|unit tests?|regex|api\b|endpoint|"
    r"python|javascript|typescript|java\b|rust\b|golang|c\+\+|sql\b|bash\b|kotlin|swift\b|"
    r"implement(?:ation)?|algorithm|function|script|code)",
    re.IGNORECASE,
)
_MATH_HINTS = re.compile(
    r"(\b(solve|equation|integral|derivative|prove|theorem|lemma|probability|matrix|eigen|calculate|compute|"
    r"how many|how much|percent|sum of|factorial|prime|polynomial|geometry|triangle|algebra|calculus)\b|"
    r"\d\s*[-+*/^=]\s*\d|\\frac|\\int|\\sum|\$[^$]+\$)",
    re.IGNORECASE,
)
_REASONING_HINTS = re.compile(
    r"\b(why|explain|compare|analy[sz]e|reason|trade-?offs?|pros and cons|evaluate|justify|implications?|"
    r"step by step|think|cause|argue|which is better|difference between|design)\b",
    re.IGNORECASE,
)
_CREATIVE_HINTS = re.compile(
    r"\b(write (?:a|an|me) (?:story|poem|song|haiku|limerick|essay|script)|story|poem|haiku|lyrics|fiction|"
    r"creative|imagine|brainstorm|slogan|novel|character)\b",
    re.IGNORECASE,
)
_SUMMARY_HINTS = re.compile(r"\b(summari[sz]e|summary|tl;?dr|key points|condense|shorten)\b", re.IGNORECASE)
_TRANSLATE_HINTS = re.compile(r"\b(translate|translation|in (?:french|german|spanish|chinese|japanese))\b", re.I)
_HARD_HINTS = re.compile(
    r"\b(prove|proof|optimi[sz]e|complex|rigorous|edge cases?|concurren\w*|distributed|architecture|"
    r"step by step|formal|derive|asymptotic|complexity|race condition|deadlock|scalab\w+|security|"
    r"multi-?step|thorough|in depth|detailed)\b",
    re.IGNORECASE,
)
_EASY_HINTS = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|ok|okay|yes|no|good (?:morning|night))\b|\b(what is|define|quick)\b",
    re.IGNORECASE,
)
_LANGUAGE_FENCE = re.compile(r"```([A-Za-z0-9+#-]+)")
_PROGRAMMING_LANGUAGES = {
    "python": re.compile(r"\b(python|def \w+\(|import \w+|\.py\b|pip install)", re.I),
    "javascript": re.compile(r"\b(javascript|node\.?js|const \w+ = |=> \{|\.js\b|npm )", re.I),
    "typescript": re.compile(r"\b(typescript|\.tsx?\b|interface \w+ \{)", re.I),
    "rust": re.compile(r"\b(rust|fn \w+\(|cargo |\.rs\b|impl \w+)", re.I),
    "go": re.compile(r"\b(golang|func \w+\(|go (?:test|build|run)\b|\.go\b)", re.I),
    "java": re.compile(r"\b(java\b|public static void|\.java\b)", re.I),
    "cpp": re.compile(r"(c\+\+|#include|std::|\.cpp\b)", re.I),
    "sql": re.compile(r"\b(sql|select .* from|insert into|create table)\b", re.I),
    "shell": re.compile(r"\b(bash|shell script|\$ \w+|\.sh\b)", re.I),
}
_SCRIPTS = (
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


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


def classify_task(text: str, has_tools: bool) -> str:
    """The task type of a prompt; the first matching family wins, in order of how much it changes routing."""
    if _CODE_FENCE.search(text) or len(_CODE_HINTS.findall(text)) >= 2:
        return "code"
    if _MATH_HINTS.search(text):
        return "math"
    if _TRANSLATE_HINTS.search(text):
        return "translation"
    if _SUMMARY_HINTS.search(text):
        return "summarization"
    if _CREATIVE_HINTS.search(text):
        return "creative"
    if _CODE_HINTS.search(text):
        return "code"
    if _REASONING_HINTS.search(text):
        return "reasoning"
    if has_tools:
        return "tool_use"
    return "chat"


def estimate_difficulty(text: str, task_type: str, total_tokens: int) -> float:
    """A rough 0..1 difficulty: length, hard and easy cue words, task family."""
    score = 0.15
    score += min(len(text) / 4000, 0.25)
    score += min(len(_HARD_HINTS.findall(text)) * 0.12, 0.36)
    if task_type in ("math", "code", "reasoning"):
        score += 0.12
    if text.count("?") >= 3 or text.count("\n- ") + text.count("\n1.") >= 3:
        score += 0.08
    if total_tokens > 8000:
        score += 0.08
    if _EASY_HINTS.search(text[:200]) and len(text) < 200:
        score -= 0.2
    return round(min(max(score, 0.0), 1.0), 3)


def detect_natural_language(text: str) -> str:
    sample = text[:1000]
    for code, pattern in _SCRIPTS:
        if len(pattern.findall(sample)) >= 3:
            return code
    return "en" if _LATIN_WORD.search(sample) else "other"


def detect_programming_language(text: str) -> str | None:
    fence = _LANGUAGE_FENCE.search(text)
    if fence:
        return fence.group(1).lower()
    for name, pattern in _PROGRAMMING_LANGUAGES.items():
        if pattern.search(text):
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
    task_type = classify_task(window, has_tools)
    response_format = body.get("response_format")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    return Features(
        task_type=task_type,
        difficulty=estimate_difficulty(window, task_type, estimated_tokens),
        natural_language=detect_natural_language(window),
        programming_language=detect_programming_language(window) if task_type == "code" else None,
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
