"""Text to search terms: one normalisation and one tokenisation for messages and queries.

normalise(): NFKC (full-width and compatibility forms fold to their plain form), casefold
(ß -> ss, final sigma -> sigma), then the accents of the combining diacritical blocks are
stripped (é -> e, ά -> α, ё -> е). Scripts whose marks are letters of their own (Devanagari,
Thai, Arabic vowel signs) keep them.

Words are runs of word characters (\\w) with the combining marks inside them. Text of the
scripts written without spaces (Han, kana, Hangul, Thai, Lao, Khmer, Myanmar) has no words to
split: a run of it is indexed as its single characters and its bigrams, and a query run matches
through its bigrams (a single character through itself), then exactly against the text.
"""
import re
import unicodedata
from dataclasses import dataclass

_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_NO_SPACE_CLASS = ("\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u3005-\u3007\u3040-\u30ff\u3100-\u312f"
                   "\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
                   "\U00020000-\U0003134f")
_NO_SPACE = re.compile(f"[{_NO_SPACE_CLASS}]+")
_SPLIT_NO_SPACE = re.compile(f"([{_NO_SPACE_CLASS}]+)")
_ASCII_WORD = re.compile(r"\w+", re.ASCII)
_PIECES = re.compile(r"(\w+)|([^\w\s]+)")


def normalise(text: str) -> str:
    """Case-, width- and accent-folded text (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():
        return folded
    return unicodedata.normalize("NFC", _DIACRITICS.sub("", unicodedata.normalize("NFD", folded)))


def _words(folded: str) -> list[str]:
    """Runs of word characters, joined across the combining marks inside a word."""
    words: list[str] = []
    glue = -1  # where a piece must start to continue the last word
    for match in _PIECES.finditer(folded):
        word, other = match.groups()
        if word is not None or all(unicodedata.category(char)[0] == "M" for char in other):
            if glue == match.start():
                words[-1] += match.group()
            elif word is not None:
                words.append(word)
            else:
                continue
            glue = match.end()
        else:
            glue = -1
    return words


def _pieces(folded: str):
    """(is_no_space_run, text) for every word and no-space run of folded text."""
    if folded.isascii():
        yield from ((False, word) for word in _ASCII_WORD.findall(folded))
        return
    for word in _words(folded):
        if not _NO_SPACE.search(word):
            yield False, word
            continue
        for index, piece in enumerate(_SPLIT_NO_SPACE.split(word)):
            if piece:
                yield index % 2 == 1, piece


def index_terms(text: str) -> set[str]:
    """Every term a message is found by: its words, and each no-space run's characters and bigrams."""
    folded = normalise(text)
    if folded.isascii():  # most chat text: words only
        return set(_ASCII_WORD.findall(folded))
    terms: set[str] = set()
    for no_space, piece in _pieces(folded):
        if no_space:
            terms.update(piece)
            terms.update(piece[i:i + 2] for i in range(len(piece) - 1))
        else:
            terms.add(piece)
    return terms


@dataclass(frozen=True)
class Query:
    terms: tuple[str, ...]  # each must be among a match's index terms
    runs: tuple[str, ...]  # no-space runs a match's normalised text must contain as typed
    words: int  # how many words and runs the query has

    def matches(self, text: str) -> bool:
        """Whether a message's text really holds every word and run (the index only narrows)."""
        folded = normalise(text)
        return all(run in folded for run in self.runs) and set(self.terms) <= index_terms(text)


def parse(text: str) -> Query:
    terms, runs, words = set(), [], 0
    for no_space, piece in _pieces(normalise(text)):
        words += 1
        if no_space:
            runs.append(piece)
            terms.update([piece] if len(piece) == 1 else (piece[i:i + 2] for i in range(len(piece) - 1)))
        else:
            terms.add(piece)
    return Query(tuple(sorted(terms)), tuple(runs), words)
