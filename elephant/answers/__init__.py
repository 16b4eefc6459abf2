"""Answers: "what did we try last time?" (``ask``), assembled deterministically from typed records."""

from elephant.answers.ask import Answerer, AskResponse, SearchFn

__all__ = ["Answerer", "AskResponse", "SearchFn"]
