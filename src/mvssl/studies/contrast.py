"""Predictions written as linear contrasts over arms' measures: ``mlp.h - none.h > 0``,
``(small.err - small.er_err) - (default.err - default.er_err) > 0``, ``2 * a.acc - b.acc - c.acc > 5``.

A reference is ``ARM.MEASURE`` (the arm's name may hold hyphens, the measure is after the last
dot); ``+ - * / ( ) > <`` are separate tokens (spaces around ``+ - * /``), so that ``with-jitter.acc``
is one arm and ``a.acc - b.acc`` two. :func:`parse` turns the text into coefficients per
(arm, measure) and a constant, normalised so that the prediction reads "value > 0"."""
from __future__ import annotations

import re
from dataclasses import dataclass


class ContrastError(ValueError):
    pass


@dataclass(frozen=True)
class Contrast:
    text: str
    terms: dict  # (arm, measure) -> coefficient of the "predicted > 0" form
    constant: float

    def arms(self) -> list[str]:
        return sorted({arm for arm, _ in self.terms})

    def measures(self) -> list[str]:
        return sorted({m for _, m in self.terms})

    def per_seed(self, values: dict, seeds: list) -> list[float]:
        """The contrast's value for each seed of ``seeds`` (``values[arm][measure][seed]``)."""
        return [sum(c * values[arm][m][s] for (arm, m), c in self.terms.items()) + self.constant for s in seeds]


_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_+\-]*\.[A-Za-z_][A-Za-z0-9_]*$")


def _tokens(text: str) -> list[str]:
    return text.replace("(", " ( ").replace(")", " ) ").split()


def _number(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


class _Parser:
    def __init__(self, tokens: list[str], text: str):
        self.tokens, self.i, self.text = tokens, 0, text

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self):
        tok = self.peek()
        if tok is None:
            raise ContrastError(f"{self.text!r}: ends too early")
        self.i += 1
        return tok

    def expr(self) -> tuple[dict, float]:
        terms, const = self.term()
        while self.peek() in ("+", "-"):
            sign = 1.0 if self.take() == "+" else -1.0
            t, c = self.term()
            terms, const = _add(terms, t, sign), const + sign * c
        return terms, const

    def term(self) -> tuple[dict, float]:
        terms, const = self.factor()
        while self.peek() in ("*", "/"):
            op = self.take()
            t, c = self.factor()
            if op == "/":
                if t or c == 0:
                    raise ContrastError(f"{self.text!r}: divide by a non-zero number only")
                terms, const = {k: v / c for k, v in terms.items()}, const / c
                continue
            if terms and t:
                raise ContrastError(f"{self.text!r}: a product of two measures is not a linear contrast")
            if terms:
                terms, const = {k: v * c for k, v in terms.items()}, const * c
            else:
                terms, const = {k: v * const for k, v in t.items()}, const * c
        return terms, const

    def factor(self) -> tuple[dict, float]:
        tok = self.take()
        if tok == "(":
            out = self.expr()
            if self.take() != ")":
                raise ContrastError(f"{self.text!r}: missing ')'")
            return out
        if tok == "-":
            t, c = self.factor()
            return {k: -v for k, v in t.items()}, -c
        number = _number(tok)
        if number is not None:
            return {}, number
        if not _NAME.match(tok):
            raise ContrastError(f"{self.text!r}: {tok!r} is neither ARM.MEASURE nor a number "
                                "(put spaces around + - *)")
        arm, measure = tok.rsplit(".", 1)
        return {(arm, measure): 1.0}, 0.0


def _add(a: dict, b: dict, sign: float) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0.0) + sign * v
    return {k: v for k, v in out.items() if v != 0.0}


def parse(text: str) -> Contrast:
    """``"LHS > RHS"`` or ``"LHS < RHS"`` -> :class:`Contrast` reading ``value > 0``."""
    if not isinstance(text, str):
        raise ContrastError(f"a contrast is a text such as 'a.acc - b.acc > 0', got {text!r}")
    ops = [op for op in (">", "<") if op in text]
    if len(ops) != 1 or text.count(ops[0]) != 1:
        raise ContrastError(f"{text!r}: write one comparison, '> 0' or '< 0' (or against a number)")
    lhs, rhs = text.split(ops[0])
    sides = []
    for side in (lhs, rhs):
        parser = _Parser(_tokens(side), text)
        sides.append(parser.expr())
        if parser.peek() is not None:
            raise ContrastError(f"{text!r}: unexpected {parser.peek()!r}")
    (lt, lc), (rt, rc) = sides
    terms, const = _add(lt, rt, -1.0), lc - rc
    if ops[0] == "<":
        terms, const = {k: -v for k, v in terms.items()}, -const
    if not terms:
        raise ContrastError(f"{text!r}: names no ARM.MEASURE")
    return Contrast(text, terms, const)
