"""The lexical agreement guard: may two prompts share an answer, as far as their words can tell?

An embedding measures how much two prompts talk about the same thing, not whether they ask the same
thing: "order #48213" and "order #48231", "miles to kilometers" and "kilometers to miles", "refundable"
and "non-refundable" sit together in any embedding, and in a static one (mean of token vectors) they
are the same vector. :func:`agrees` looks at the words that carry such differences and says no when
they disagree; it never says yes on its own (the similarity threshold still has to pass). Pure Python,
a few µs a pair, no model. It checks, in order:

1. **Numbers**: the digit-bearing tokens (amounts, ids, versions, dates, times, codes such as
   ``BA117``), in order, with ``1,000`` = ``1000``, ``15th`` = ``15``, ``$300`` = ``300``, number
   words (``two`` = ``2``, ``twice`` = ``2``) and a unit glued to a number split off (``5kg``).
2. **Negation**: how many negators each has (``not``, ``n't``, ``no``, ``never``, ``without``,
   ``non-``, ``cannot``, ...).
3. **Opposites**: a word only in one prompt whose opposite is only in the other, either by prefix
   (``refundable``/``nonrefundable``, ``lock``/``unlock``, ``include``/``exclude``,
   ``upgrade``/``downgrade``, ``legal``/``illegal``) or from a short list of common antonyms
   (``add``/``remove``, ``high``/``low``, ``first``/``last``, ``before``/``after``, ...).
4. **Units and times of day**: the multiset of units (``kg``, ``miles``, ``GB``, ``seconds``,
   ``dollars``, ``°C``, ...; spellings folded: ``kilograms`` = ``kg``) and of time words (``today``,
   ``tomorrow``, ``morning``, ``pm``, ...).
5. **Names**: every capitalised word that does not start a sentence, and every all-capitals or
   digit-bearing token, must occur (in any case) in the other prompt.
6. **Direction**: for ``to``/``into``/``from``/``than``/``vs``/``instead of``, the word each
   governs, among the words both prompts have, must be the same ("Celsius to Fahrenheit" /
   "Fahrenheit to Celsius" disagree; "flight to Chicago from Boston" / "from Boston to Chicago" agree).

It is a guard, not an understanding: a different lowercase noun ("reverse a list" / "a string") or
verb outside the antonym list ("debounce" / "throttle") passes it, and the threshold must catch those.
Its rules were chosen on one half of ``tests/data/semantic_pairs.jsonl`` and are measured on the
other (``docs/semantic-quality.md``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Features", "agrees", "disagreement", "features"]

_TOKEN = re.compile(r"[$€£]?[A-Za-z0-9]+(?:[.,:/'\u2019_-][A-Za-z0-9]+)*%?|°\s?[CF]\b|[$€£%]")
_SENTENCE_END = frozenset('.!?:;"“”(')

_NUMBER_WORDS = {
    "zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13",
    "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18",
    "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
    "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000",
    "million": "1000000", "billion": "1000000000", "twice": "2", "thrice": "3", "dozen": "12",
    "half": "0.5",
}  # fmt: skip

_NEGATORS = frozenset(
    {"not", "no", "never", "none", "nothing", "nobody", "nowhere", "neither", "nor", "without", "cannot", "non"}
)
_CONTRACTIONS = {"can't": "can not", "won't": "will not", "shan't": "shall not", "ain't": "is not"}

# Prefixes that turn a word into its opposite or a contrasting word: "" (none) against any of them,
# or two of them against each other (import/export, upgrade/downgrade, encrypt/decrypt).
_PREFIXES = ("non", "un", "in", "im", "il", "ir", "dis", "de", "a", "en", "ex", "up", "down", "anti", "pre", "post")

_ANTONYMS = [
    ("add", "remove"), ("add", "delete"), ("add", "drop"), ("start", "stop"), ("start", "end"), ("begin", "end"),
    ("open", "close"), ("open", "closed"), ("opened", "closed"), ("push", "pull"), ("buy", "sell"),
    ("gain", "lose"), ("win", "lose"), ("high", "low"), ("higher", "lower"), ("highest", "lowest"),
    ("best", "worst"), ("better", "worse"), ("hot", "cold"), ("warm", "cold"), ("warmer", "colder"),
    ("warmest", "coldest"), ("first", "last"), ("min", "max"), ("minimum", "maximum"), ("more", "less"),
    ("more", "fewer"), ("most", "least"), ("before", "after"), ("above", "below"), ("over", "under"),
    ("early", "late"), ("earliest", "latest"), ("arrival", "departure"), ("arrive", "depart"),
    ("allow", "block"), ("allow", "deny"), ("accept", "reject"), ("approve", "reject"), ("true", "false"),
    ("on", "off"), ("yes", "no"), ("left", "right"), ("pass", "fail"), ("succeed", "fail"),
    ("succeeds", "fails"), ("success", "failure"), ("required", "optional"), ("public", "private"),
    ("input", "output"), ("send", "receive"), ("sent", "received"), ("incoming", "outgoing"),
    ("near", "far"), ("long", "short"), ("longer", "shorter"), ("extend", "shorten"), ("big", "small"),
    ("large", "small"), ("old", "new"), ("oldest", "newest"), ("cheap", "expensive"), ("fast", "slow"),
    ("pause", "resume"), ("freeze", "thaw"), ("lend", "borrow"), ("import", "export"), ("read", "write"),
    ("inner", "outer"), ("male", "female"), ("positive", "negative"), ("maximum", "minimum"),
    ("single", "double"), ("asc", "desc"), ("encode", "decode"), ("good", "bad"),
    ("legal", "illegal"), ("safe", "dangerous"), ("empty", "full"), ("light", "heavy"), ("light", "dark"),
]  # fmt: skip
_OPPOSITE: dict[str, set[str]] = {}
for _x, _y in _ANTONYMS:
    _OPPOSITE.setdefault(_x, set()).add(_y)
    _OPPOSITE.setdefault(_y, set()).add(_x)

_UNITS = {
    "kg": "kg", "kgs": "kg", "kilo": "kg", "kilos": "kg", "kilogram": "kg", "kilograms": "kg",
    "g": "g", "gram": "g", "grams": "g", "mg": "mg", "milligram": "mg", "milligrams": "mg",
    "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb", "oz": "oz", "ounce": "oz", "ounces": "oz",
    "ton": "ton", "tons": "ton", "tonne": "t", "tonnes": "t",
    "km": "km", "kms": "km", "kilometer": "km", "kilometers": "km", "kilometre": "km", "kilometres": "km",
    "m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "cm": "cm", "centimeter": "cm", "centimeters": "cm", "centimetre": "cm", "centimetres": "cm",
    "mm": "mm", "millimeter": "mm", "millimeters": "mm", "mi": "mile", "mile": "mile", "miles": "mile",
    "ft": "ft", "foot": "ft", "feet": "ft", "inch": "in", "inches": "in", "yd": "yd",
    "yard": "yd", "yards": "yd", "l": "l", "liter": "l", "liters": "l", "litre": "l", "litres": "l",
    "ml": "ml", "milliliter": "ml", "milliliters": "ml", "gallon": "gal", "gallons": "gal", "gal": "gal",
    "quart": "qt", "quarts": "qt", "qt": "qt", "pint": "pt", "pints": "pt", "cup": "cup", "cups": "cup",
    "b": "byte", "byte": "byte", "bytes": "byte", "kb": "kb", "kilobyte": "kb", "kilobytes": "kb",
    "mb": "mb", "megabyte": "mb", "megabytes": "mb", "gb": "gb", "gigabyte": "gb", "gigabytes": "gb",
    "tb": "tb", "terabyte": "tb", "terabytes": "tb", "kib": "kb", "mib": "mb", "gib": "gb",
    "ns": "ns", "nanosecond": "ns", "nanoseconds": "ns", "µs": "us", "us": "us", "microsecond": "us",
    "microseconds": "us", "ms": "ms", "millisecond": "ms", "milliseconds": "ms", "s": "s", "sec": "s",
    "secs": "s", "second": "s", "seconds": "s", "min": "min", "mins": "min", "minute": "min",
    "minutes": "min", "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h", "hourly": "h",
    "day": "day", "days": "day", "daily": "day", "week": "week", "weeks": "week", "weekly": "week",
    "month": "month", "months": "month", "monthly": "month", "year": "year", "years": "year",
    "yearly": "year", "annual": "year", "annually": "year", "night": "night", "nights": "night",
    "nightly": "night", "px": "px", "em": "em", "rem": "rem", "pt": "pt", "°c": "°c", "°f": "°f",
    "celsius": "°c", "fahrenheit": "°f", "kelvin": "k", "$": "usd", "usd": "usd", "dollar": "usd",
    "dollars": "usd", "€": "eur", "eur": "eur", "euro": "eur", "euros": "eur", "£": "gbp", "gbp": "gbp",
    "sterling": "gbp", "yen": "jpy", "jpy": "jpy", "%": "%", "percent": "%", "mph": "mph", "kph": "kph",
    "kmh": "kph", "hz": "hz", "khz": "khz", "mhz": "mhz", "ghz": "ghz", "kw": "kw", "kwh": "kwh",
    "w": "w", "watt": "w", "watts": "w", "v": "v", "volt": "v", "volts": "v",
}  # fmt: skip
# Units that are ordinary words too ("in", "m", "s", "us", ...): counted only right after a number.
_AMBIGUOUS_UNITS = frozenset({"m", "s", "second", "us", "h", "b", "g", "l", "w", "v", "min", "pt", "em", "t", "mi"})

_TIMES = {
    "today": "today", "tonight": "tonight", "tomorrow": "tomorrow", "yesterday": "yesterday",
    "morning": "morning", "mornings": "morning", "afternoon": "afternoon", "afternoons": "afternoon",
    "evening": "evening", "evenings": "evening", "noon": "noon", "midday": "noon", "midnight": "midnight",
    "weekend": "weekend", "weekends": "weekend", "weekday": "weekday", "weekdays": "weekday",
    "am": "am", "a.m": "am", "pm": "pm", "p.m": "pm", "ago": "ago",
}  # fmt: skip
_AMBIGUOUS_TIMES = frozenset({"am"})  # "why am I": counted only right after a number

_DIRECTIONS = {"to": "to", "into": "to", "towards": "to", "from": "from", "than": "than", "vs": "vs",
               "versus": "vs", "instead": "instead"}  # fmt: skip
_SKIP_AFTER_DIRECTION = frozenset({"a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "of", "this"})


SLOT = 2
SLOT_OTHER = 2
"""Two prompts that differ only by up to this many content words on each side are one template
with another filler ("reverse a *list*" / "reverse a *string*"): the guard does not serve across
them, whatever the similarity."""

_FUNCTION_WORDS = frozenset(
    {
        "a", "an", "the", "this", "that", "these", "those", "my", "your", "our", "their", "his", "her", "its", "me",
        "you", "we", "they", "i", "it", "he", "she", "him", "them", "us", "is", "are", "was", "were", "be", "been",
        "being", "am", "do", "does", "did", "done", "have", "has", "had", "having", "can", "could", "will", "would",
        "shall", "should", "may", "might", "must", "of", "to", "in", "on", "at", "by", "for", "with", "from", "into",
        "onto", "about", "as", "than", "then", "so", "and", "or", "but", "if", "when", "where", "what", "which", "who",
        "whom", "whose", "why", "how", "there", "here", "please", "some", "any", "all", "each", "every", "just", "also",
        "very", "too", "much", "many", "more", "most", "again", "still", "yet", "now", "get", "got", "s", "t", "let",
        "lets"
    }
)  # fmt: skip


@dataclass(frozen=True)
class Features:
    """What :func:`agrees` compares, extracted once per prompt (see the module's docstring)."""

    words: frozenset[str]
    """Every word, lower-cased, contractions expanded."""
    numbers: tuple[str, ...]
    negations: int
    units: tuple[tuple[str, int], ...]
    times: tuple[tuple[str, int], ...]
    names: frozenset[str]
    directions: frozenset[tuple[str, str]]
    content: frozenset[str]
    """The stems of the words that are not function words."""


def _number(token: str) -> str | None:
    """The normalised number (or digit-bearing code) a token stands for, or None."""
    low = token.lower()
    if low in _NUMBER_WORDS:
        return _NUMBER_WORDS[low]
    if not any(ch.isdigit() for ch in low):
        return None
    low = low.lstrip("$€£#").rstrip("%")
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", low):
        low = low.replace(",", "")
    ordinal = re.fullmatch(r"(\d+)(?:st|nd|rd|th)", low)
    if ordinal:
        return ordinal.group(1)
    return low


def _split(text: str) -> list[tuple[str, bool]]:
    """Tokens with whether each starts a sentence; contractions expanded, hyphenated words split."""
    out: list[tuple[str, bool]] = []
    for match in _TOKEN.finditer(text):
        raw = match.group(0).replace("\u2019", "'")
        start = not out or text[: match.start()].rstrip()[-1:] in _SENTENCE_END
        if raw.startswith("°"):
            out.append(("°" + raw[-1], start))
            continue
        low = raw.lower()
        if low in _CONTRACTIONS:
            first, second = _CONTRACTIONS[low].split()
            out += [(first, start), (second, False)]
            continue
        if low.endswith("n't"):
            out += [(raw[:-3], start), ("not", False)]
            continue
        if "'" in raw:
            raw = raw.split("'")[0]
        glued = re.fullmatch(r"([$€£]?\d[\d,.]*)([A-Za-z]+)", raw)
        if glued and glued.group(2).lower() in _UNITS:  # "5kg", "16px": number and unit
            out += [(glued.group(1), start), (glued.group(2), False)]
            continue
        if "-" in raw and not any(ch.isdigit() for ch in raw):  # "non-refundable", "two-bedroom"
            parts = [p for p in raw.split("-") if p]
            out += [(p, start and i == 0) for i, p in enumerate(parts)]
            continue
        out.append((raw, start))
    return out


@lru_cache(maxsize=4096)
def features(text: str) -> Features:
    """The features of one prompt (cached: the tier compares one prompt against many)."""
    tokens = _split(text)
    lows = [t.lower() for t, _ in tokens]
    numbers: list[str] = []
    units: Counter[str] = Counter()
    times: Counter[str] = Counter()
    names: set[str] = set()
    negations = 0
    previous_number = False
    for (token, starts), low in zip(tokens, lows, strict=True):
        number = _number(token)
        if number is not None:
            numbers.append(number)
        if low in _NEGATORS:
            negations += 1
        if low in _UNITS and (low not in _AMBIGUOUS_UNITS or previous_number or token in ("$", "€", "£", "%")):
            units[_UNITS[low]] += 1
        elif (number is not None and low[:1] in "$€£") or low.endswith("%"):  # "$300", "15%"
            units[_UNITS[low[:1] if low[:1] in "$€£" else "%"]] += 1
        if low in _TIMES and (low not in _AMBIGUOUS_TIMES or previous_number):
            times[_TIMES[low]] += 1
        if token.isalpha() and token[:1].isupper() and token != "I" and (not starts or token.isupper()):
            names.add(low)
        previous_number = number is not None
    directions: set[tuple[str, str]] = set()
    for i, low in enumerate(lows):
        marker = _DIRECTIONS.get(low)
        if marker is None:
            continue
        j = i + 1
        while j < len(lows) and (lows[j] in _SKIP_AFTER_DIRECTION or (marker == "instead" and lows[j] == "of")):
            j += 1
        if j < len(lows):
            directions.add((marker, _UNITS.get(lows[j], lows[j])))
    words = frozenset(lows) | frozenset(_UNITS.get(w, w) for w in lows)
    return Features(
        words=words,
        numbers=tuple(numbers),
        negations=negations,
        units=tuple(sorted(units.items())),
        times=tuple(sorted(times.items())),
        names=frozenset(names),
        directions=frozenset(directions),
        content=frozenset(
            _stem(w if w in _AMBIGUOUS_UNITS else _UNITS.get(w, w))
            for w in lows
            if w not in _FUNCTION_WORDS and _number(w) is None and w not in ("$", "€", "£", "%")
        ),
    )


def _stem(word: str) -> str:
    """A crude stem, enough to match inflections: values/value, included/includes, shipping/ship."""
    if len(word) <= 4:
        return word
    if word.endswith("ies"):
        word = word[:-3] + "y"
    elif (word.endswith("es") and word[-3] in "sxz") or word.endswith(("ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif word.endswith(("ing", "ed")) and len(word) > 5:
        word = word[:-3] if word.endswith("ing") else word[:-2]
        if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "lsz":
            word = word[:-1]
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


@lru_cache(maxsize=8192)
def _roots(word: str) -> dict[str, str]:
    """The roots of a word under each prefix it may carry (root -> prefix; "" for none), roots of at
    least 4 letters: "unlock" -> {"unlock": "", "lock": "un"}."""
    word = _stem(word)
    roots = {word: ""}
    for prefix in _PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 4:
            roots.setdefault(word[len(prefix) :], prefix)
    return roots


def _prefix_opposites(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are one root under two contrasting prefixes (or one and none)."""
    ra, rb = _roots(a), _roots(b)
    return any(root in rb and rb[root] != prefix for root, prefix in ra.items())


def _opposites(only_a: set[str], only_b: set[str]) -> tuple[str, str] | None:
    for x in only_a:
        for y in only_b:
            if y in _OPPOSITE.get(x, ()) or _prefix_opposites(x, y):
                return x, y
    return None


def disagreement(a: str, b: str) -> str | None:
    """Why two prompts may not share an answer (a short reason), or None when :func:`agrees`."""
    fa, fb = features(a), features(b)
    if fa.numbers != fb.numbers:
        return f"numbers {list(fa.numbers)} / {list(fb.numbers)}"
    if fa.negations != fb.negations:
        return f"negations {fa.negations} / {fb.negations}"
    opposite = _opposites(set(fa.words - fb.words), set(fb.words - fa.words))
    if opposite:
        return f"opposites {opposite[0]!r} / {opposite[1]!r}"
    if fa.units != fb.units:
        return f"units {dict(fa.units)} / {dict(fb.units)}"
    if fa.times != fb.times:
        return f"times {dict(fa.times)} / {dict(fb.times)}"
    missing = sorted(n for n in fa.names if not _mentioned(n, fb)) or sorted(
        n for n in fb.names if not _mentioned(n, fa)
    )
    if missing:
        return f"names {missing}"
    for marker in {m for m, _ in fa.directions} & {m for m, _ in fb.directions}:
        governed_a = {w for m, w in fa.directions if m == marker and w in fb.words}
        governed_b = {w for m, w in fb.directions if m == marker and w in fa.words}
        if governed_a and governed_b and governed_a != governed_b:
            return f"direction {marker!r} {sorted(governed_a)} / {sorted(governed_b)}"
    only_a, only_b = fa.content - fb.content, fb.content - fa.content
    if only_a and only_b and min(len(only_a), len(only_b)) <= SLOT and max(len(only_a), len(only_b)) <= SLOT_OTHER:
        return f"substitution {sorted(only_a)} / {sorted(only_b)}"
    return None


def _mentioned(name: str, other: Features) -> bool:
    """Whether a name occurs in the other prompt: as a word, a plural, or a word's beginning
    ("Node" in "Node.js", "REST" in "RESTful")."""
    if name in other.words:
        return True
    stem = _stem(name)
    return any(_stem(w) == stem or (len(name) >= 3 and w.startswith(name)) for w in other.words)


def agrees(a: str, b: str) -> bool:
    """Whether prompts ``a`` and ``b`` agree on every meaning-bearing word the guard checks (numbers,
    negation, opposites, units, times of day, names, direction): a stored answer to one may only be
    served for the other when this is True *and* their similarity reaches the threshold. Symmetric;
    pure Python; the features of a prompt are cached. ``disagreement(a, b)`` says why not."""
    return disagreement(a, b) is None
