"""A safe arithmetic calculator: a whitelist evaluator over Python's `ast`, never `eval`.

Allowed: int/float literals, + - * / // % **, unary +/-, parentheses, percentages
(`12%` means 0.12 when no operand follows the `%`; `10 % 3` stays modulo) and the
functions round, abs, min, max, sqrt, log. Everything else (names, attributes,
calls of anything else, lambdas, subscripts, strings, comparisons) is rejected.
Work is bounded by the expression length, the size of integers, the exponent,
the nesting depth and a wall-clock deadline, so hostile input fails fast.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import time
from typing import Any, Callable

from slmbench.tools.base import TextShape, Tool, ToolError

MAX_EXPRESSION_CHARS = 1_000
MAX_INT_BITS = 1_024  # about 308 decimal digits
MAX_EXPONENT = 1_000
MAX_ROUND_DIGITS = 20
MAX_DEPTH = 60
MAX_SECONDS = 1.0

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _round(x, ndigits=None):
    if ndigits is None:
        return round(x)
    if not isinstance(ndigits, int) or abs(ndigits) > MAX_ROUND_DIGITS:
        raise ToolError(f"round() digits must be an integer between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}")
    return round(x, ndigits)


def _log(x, base=None):
    return math.log(x) if base is None else math.log(x, base)


# name -> (function, min args, max args)
_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "round": (_round, 1, 2),
    "abs": (abs, 1, 1),
    "min": (min, 1, 50),
    "max": (max, 1, 50),
    "sqrt": (math.sqrt, 1, 1),
    "log": (_log, 1, 2),
}

# A number directly followed by `%` that is not followed by an operand: a percentage.
_PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)\s*%(?!\s*[\w.(])")


class _Evaluator:
    """Walks the parsed expression, allowing only whitelisted nodes."""

    def __init__(self):
        self.deadline = time.monotonic() + MAX_SECONDS

    def eval(self, node: ast.AST, depth: int = 0):
        if depth > MAX_DEPTH:
            raise ToolError("expression is nested too deeply")
        if time.monotonic() > self.deadline:
            raise ToolError("expression took too long to evaluate")
        return _checked(self._eval(node, depth + 1))

    def _eval(self, node: ast.AST, depth: int):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ToolError(f"only numbers are allowed, not {node.value!r:.40}")
            return node.value
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.eval(node.operand, depth))
        if isinstance(node, ast.BinOp):
            left, right = self.eval(node.left, depth), self.eval(node.right, depth)
            if isinstance(node.op, ast.Pow):
                return _power(left, right)
            if type(node.op) in _BINARY:
                return _BINARY[type(node.op)](left, right)
            if isinstance(node.op, ast.BitXor):
                raise ToolError("'^' is not a power operator; use ** for powers")
            raise ToolError(f"operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        raise ToolError(f"{type(node).__name__} is not allowed; use numbers, + - * / // % ** and {', '.join(_FUNCTIONS)}")

    def _call(self, node: ast.Call, depth: int):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise ToolError(f"only these functions are allowed: {', '.join(_FUNCTIONS)}")
        if node.keywords:
            raise ToolError("keyword arguments are not allowed")
        fn, lo, hi = _FUNCTIONS[node.func.id]
        if not lo <= len(node.args) <= hi:
            raise ToolError(f"{node.func.id}() takes {lo} to {hi} arguments, got {len(node.args)}")
        return fn(*(self.eval(a, depth) for a in node.args))


def _power(base, exponent):
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"exponent {exponent:.6g} is too large (limit {MAX_EXPONENT})")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if base.bit_length() * exponent > MAX_INT_BITS:
            raise ToolError("result is too large")
    result = base**exponent
    if isinstance(result, complex):
        raise ToolError("result is not a real number")
    return result


def _checked(value):
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ToolError("result is too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("result is not a finite number")
    return value


def format_number(value: int | float) -> str:
    """Integers exactly; floats with 12 significant digits (so 0.1 + 0.2 shows 0.3)."""
    return str(value) if isinstance(value, int) else f"{value:.12g}"


def evaluate(expression: str) -> int | float:
    """Evaluate an arithmetic expression under the whitelist; raises ToolError."""
    if not isinstance(expression, str):
        raise ToolError("expression must be a string")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"expression is longer than {MAX_EXPRESSION_CHARS} characters")
    text = _PERCENT.sub(r"(\1/100)", expression.strip())
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise ToolError(f"cannot parse expression: {getattr(e, 'msg', e)}") from None
    try:
        return _Evaluator().eval(tree.body)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except (OverflowError, ValueError, TypeError, RecursionError) as e:
        raise ToolError(f"{type(e).__name__}: {e}") from None


def _run(args: dict[str, Any]) -> str:
    return format_number(evaluate(args.get("expression")))


def calculator_tool() -> Tool:
    return Tool(
        name="calculator",
        description=(
            "Evaluates an arithmetic expression and returns the number. Supports + - * / // % ** and "
            "parentheses, percentages such as 12% (= 0.12), and round, abs, min, max, sqrt, log (natural log; "
            "log(x, base) for another base). No variables or text."
        ),
        parameters={
            "type": "object",
            "properties": {
                "expression": {"type": "string", "description": "e.g. (1250 - 1000) / 1000 * 100"},
            },
            "required": ["expression"],
            "additionalProperties": False,
        },
        fn=_run,
        example_args={"expression": "(1250 - 1000) / 1000 * 100"},
        # Under a grammar: arithmetic characters, opened by at most one function call, whose arguments
        # alone may be separated by commas (words are no expression, and "1,328.80" would be a tuple).
        arg_shapes={"expression": TextShape("0123456789.+-*/%() ", tuple(f"{name}(" for name in _FUNCTIONS), ",")},
    )
