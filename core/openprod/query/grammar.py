"""The query language's grammar (lark, LALR with a contextual lexer).

Why LALR: it is linear-time and fully deterministic, so a malformed query fails at the first
token that cannot fit, which is exactly where the caret should point. The contextual lexer only
tries the tokens that can come next, so `x <-5` reads as `x < -5` while `<-appears_in` at the
start of a path is an incoming edge, and keywords never collide with field names like `notes`.

The spec's PEG is followed with two deliberate relaxations that turn parse errors into clearer
semantic ones: any value may follow any operator (so `x == [1]` can say "an array only follows
IN"), and paths are a flat list of parts that name resolution interprets against the schema.
"""

from __future__ import annotations

from functools import lru_cache

from lark import Lark

GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: NOT not_expr            -> negation
         | predicate

?predicate: path EXISTS             -> exists
          | path IN value           -> within
          | path CHANGES            -> changes
          | path MATCHES value      -> matches
          | path LIKE value         -> like
          | path RELOP value        -> compare
          | path                    -> truthy
          | _LPAR or_expr _RPAR

path: part (PATHSEP part)*
part: LARROW? NAME

?value: STRING                      -> string
      | NUMBER                      -> number
      | TRUE                        -> true
      | FALSE                       -> false
      | NULL                        -> null
      | _LBRACK [value (_COMMA value)*] _RBRACK -> array
      | REF [_LPAR value _RPAR]     -> reference

_OR.2: /or\b/i
_AND.2: /and\b/i
NOT.2: /not\b/i
EXISTS.2: /exists\b/i
IN.2: /in\b/i
CHANGES.2: /changes\b/i
MATCHES.2: /matches\b/i
LIKE.2: /like\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
NULL.2: /null\b/i

RELOP: "==" | "!=" | "<=" | ">=" | "<" | ">"
PATHSEP: "->" | "."
LARROW: "<-"
_LPAR: "("
_RPAR: ")"
_LBRACK: "["
_RBRACK: "]"
_COMMA: ","

NAME: /[A-Za-z_][A-Za-z0-9_]*/
REF: /\$[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/
NUMBER: /-?[0-9]+(\.[0-9]+)?(?![A-Za-z0-9_.])/
STRING: /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/s

%ignore /[ \t\r\n]+/
"""

# Friendly names for terminals, used in "expected ..." messages.
TERMINAL_NAMES = {
    "_OR": "OR",
    "_AND": "AND",
    "NOT": "NOT",
    "EXISTS": "exists",
    "IN": "IN",
    "CHANGES": "changes",
    "MATCHES": "MATCHES",
    "LIKE": "LIKE",
    "TRUE": "true",
    "FALSE": "false",
    "NULL": "null",
    "RELOP": "a comparison (==, !=, <, <=, >, >=)",
    "PATHSEP": "'.' or '->'",
    "LARROW": "'<-'",
    "_LPAR": "'('",
    "_RPAR": "')'",
    "_LBRACK": "'['",
    "_RBRACK": "']'",
    "_COMMA": "','",
    "NAME": "a field name",
    "REF": "a reference like $now",
    "NUMBER": "a number",
    "STRING": "a quoted string",
    "$END": "the end of the query",
}


@lru_cache(maxsize=1)
def parser() -> Lark:
    """Built once per process (the LALR tables take a moment, most of all under Pyodide)."""
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=False)
