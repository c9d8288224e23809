"""The template language of campaign texts and macro replies: a small, bounded subset of Django's
templates.

Campaign texts are written by managers and rendered for every recipient, macro replies by agents
and leads and rendered on every use, and previews render whatever a caller posts, so the language
is a sandbox rather than Django's full engine:

- tags: only `if`, `for`, `with`, `firstof`, `comment` and `now` (no `include`, `extends`, `load`,
  `url`, `debug`, `lorem`… — using one is a syntax error);
- filters: an allowlist of text filters; an argument is at most MAX_ARG_CHARS characters, and the
  widths of `ljust`, `rjust` and `center` at most MAX_WIDTH (`floatformat` at most MAX_DECIMALS
  places). Literal arguments are checked when the template is compiled, so a campaign or a macro is
  refused when saved, not when it is sent; arguments that come from variables are checked at render time;
- a render is bounded: at most MAX_LOOP_ITERATIONS loop iterations in all, MAX_RENDER_SECONDS of
  wall time, and MAX_OUTPUT_CHARS characters of output (of the whole text and of any filter's
  result).

Anything outside these bounds raises TemplateRefused, a ValueError, with a readable message.
"""

from __future__ import annotations

import functools
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.template import Context, Engine, Library, Node, NodeList, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import FilterExpression, Template, TextNode, VariableNode
from django.template.defaulttags import FirstOfNode, ForNode, IfNode, NowNode
from django.template.smartif import TokenBase

ALLOWED_TAGS = ("comment", "firstof", "for", "if", "now", "with")
ALLOWED_FILTERS = (
    "add", "capfirst", "center", "cut", "date", "default", "default_if_none", "first", "floatformat",
    "join", "last", "length", "ljust", "lower", "pluralize", "rjust", "slice", "time", "title",
    "truncatechars", "truncatewords", "upper", "urlencode", "wordcount", "yesno",
)
WIDTH_FILTERS = ("center", "ljust", "rjust")

MAX_ARG_CHARS = 100
MAX_WIDTH = 1000
MAX_DECIMALS = 20
MAX_OUTPUT_CHARS = 10_000
MAX_LOOP_ITERATIONS = 1000
MAX_RENDER_SECONDS = 0.5


class TemplateRefused(ValueError):
    """The template is not valid in the template language, or its render went out of bounds."""


@dataclass
class _Budget:
    deadline: float
    iterations: int = 0
    output: int = 0
    refused: list[str] = field(default_factory=list)

    def refuse(self, why: str) -> None:
        # Raised, and also remembered: an `{% if %}` condition swallows exceptions of its own.
        self.refused.append(why)
        raise TemplateRefused(why)

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            self.refuse(f"the template takes longer than {MAX_RENDER_SECONDS} s to render")


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


def arg_check(name: str, arg: Any) -> None:
    """TemplateRefused when `arg` is out of bounds for the filter `name`."""
    text = str(arg)
    if len(text) > MAX_ARG_CHARS:
        raise TemplateRefused(f"the argument of |{name} is longer than {MAX_ARG_CHARS} characters")
    if name in WIDTH_FILTERS:
        try:
            width = int(text)
        except ValueError:
            return  # the filter itself leaves the value as it is
        if width > MAX_WIDTH:
            raise TemplateRefused(f"|{name} pads to at most {MAX_WIDTH} characters, not {width}")
    elif name == "floatformat":
        digits = text.rstrip("gu")
        try:
            places = int(digits) if digits else 0
        except ValueError:
            return
        if abs(places) > MAX_DECIMALS:
            raise TemplateRefused(f"|floatformat shows at most {MAX_DECIMALS} decimal places, not {places}")


def _bounded(name: str, func):
    @functools.wraps(func)
    def bounded(value, *args, **kwargs):
        _tick()
        for arg in args:
            try:
                arg_check(name, arg)
            except TemplateRefused as exc:
                budget = _budget.get()
                if budget is not None:
                    budget.refuse(str(exc))
                raise
        result = func(value, *args, **kwargs)
        if isinstance(result, str) and len(result) > MAX_OUTPUT_CHARS:
            budget = _budget.get()
            why = f"|{name} gives more than {MAX_OUTPUT_CHARS} characters"
            if budget is not None:
                budget.refuse(why)
            raise TemplateRefused(why)
        return result

    return bounded


# The engine's only builtin library (SandboxEngine.default_builtins names this module).
register = Library()
for _name in ALLOWED_TAGS:
    register.tag(_name, defaulttags.register.tags[_name])
for _name in ALLOWED_FILTERS:
    _original = defaultfilters.register.filters[_name]
    register.filter(
        _name, _bounded(_name, _original),
        **{flag: getattr(_original, flag) for flag in ("is_safe", "needs_autoescape", "expects_localtime")
           if hasattr(_original, flag)},
    )


class SandboxEngine(Engine):
    # Django's engine always adds its default tags and filters (include, extends, load…): not here.
    default_builtins = ["inbox.conversations.templating"]


_engine = SandboxEngine(autoescape=False, libraries={}, debug=False)


class _LoopBudgetNode(Node):
    """Put first in every loop body: counts iterations against the render's budget."""

    def render(self, context) -> str:
        budget = _budget.get()
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > MAX_LOOP_ITERATIONS:
                budget.refuse(f"the template's loops run more than {MAX_LOOP_ITERATIONS} times")
            budget.tick()
        return ""


class _CountedNode(Node):
    """Wraps a node that writes output (text, a variable, firstof, now): adds it to the budget,
    so a loop cannot build a huge text before the final length check."""

    child_nodelists = ()

    def __init__(self, inner: Node):
        self.inner = inner
        self.token = getattr(inner, "token", None)
        self.origin = getattr(inner, "origin", None)  # type: ignore[assignment]  # as Django's own nodes may

    def render(self, context) -> str:
        output = str(self.inner.render_annotated(context))  # a str (SafeString stays one); the stubs say int | str
        budget = _budget.get()
        if budget is not None:
            budget.output += len(output)
            if budget.output > MAX_OUTPUT_CHARS:
                budget.refuse(f"the text would be longer than {MAX_OUTPUT_CHARS} characters")
        return output


_OUTPUT_NODES = (TextNode, VariableNode, FirstOfNode, NowNode)


def _nodelists(root: NodeList) -> list[NodeList]:
    """Every node list of the template (an `{% if %}` keeps one per branch)."""
    found = [root]
    for node in root.get_nodes_by_type(Node):
        if isinstance(node, IfNode):
            found.extend(nodelist for _, nodelist in node.conditions_nodelists)
        else:
            found.extend(
                getattr(node, attr) for attr in node.child_nodelists if isinstance(getattr(node, attr, None), NodeList)
            )
    return found


def _filter_expressions(value: Any, seen: set[int]):
    """Every FilterExpression a compiled node holds (its variables, conditions, loop sequence…)."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, FilterExpression):
        yield value
    elif isinstance(value, (list, tuple)) and not isinstance(value, NodeList):
        for item in value:
            yield from _filter_expressions(item, seen)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _filter_expressions(item, seen)
    elif isinstance(value, TokenBase):  # `{% if %}` conditions: operators and literals
        for attr in ("first", "second", "value"):
            yield from _filter_expressions(getattr(value, attr, None), seen)


def _static_check(nodelist: NodeList) -> None:
    for node in nodelist.get_nodes_by_type(Node):
        seen: set[int] = set()
        for expression in _filter_expressions(list(vars(node).values()), seen):
            for func, args in expression.filters:
                for lookup, arg in args:
                    if not lookup:  # a literal: known now
                        arg_check(getattr(func, "_filter_name", "?"), arg)


def compile_template(text: str) -> Template:
    """The compiled template, or TemplateRefused (a syntax error, a tag or filter outside the
    language, a literal argument out of bounds)."""
    try:
        template = _engine.from_string(text)
    except TemplateSyntaxError as exc:
        raise TemplateRefused(f"template error: {exc}") from None
    _static_check(template.nodelist)
    loops = [node for node in template.nodelist.get_nodes_by_type(ForNode) if isinstance(node, ForNode)]
    for nodelist in _nodelists(template.nodelist):
        for index, node in enumerate(nodelist):
            if isinstance(node, _OUTPUT_NODES):
                nodelist[index] = _CountedNode(node)
    for loop in loops:
        loop.nodelist_loop.insert(0, _LoopBudgetNode())  # type: ignore[arg-type]  # a NodeList; the stubs say list[str]
    return template


def render(text: str, context: dict) -> str:
    """Render `text` with plain values, autoescape off, within the bounds; TemplateRefused if not."""
    template = compile_template(text)
    budget = _Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS)
    token = _budget.set(budget)
    try:
        output = template.render(Context(context, autoescape=False))
    finally:
        _budget.reset(token)
    if budget.refused:
        raise TemplateRefused(budget.refused[0])
    if time.monotonic() > budget.deadline:
        raise TemplateRefused(f"the template takes longer than {MAX_RENDER_SECONDS} s to render")
    if len(output) > MAX_OUTPUT_CHARS:
        raise TemplateRefused(f"the text would be longer than {MAX_OUTPUT_CHARS} characters")
    return output
