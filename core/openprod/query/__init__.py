"""The query language (spec/query-language.md): parse, resolve names, evaluate.

`compile_query(text, schema)` parses once and resolves names against a schema; `run_query(ws,
text_or_compiled)` lists matching record ids, translated to SQL wherever SQLite can answer;
`matches(ws, record, compiled)` answers for one record (what rules use). See docs/query.md.
"""

from .errors import QueryError
from .parser import parse
from .resolve import CompiledQuery, QueryWarning, compile_query
from .run import matches, run_query, run_query_python

__all__ = [
    "CompiledQuery",
    "QueryError",
    "QueryWarning",
    "compile_query",
    "matches",
    "parse",
    "run_query",
    "run_query_python",
]
