"""The context model: every way code and config write a value under a name, as regex pieces every rule shares.

A secret sits in one of two ways. Either it carries its own mark (a provider prefix such as ``ghp_``), and
then only its edges matter: :data:`LEAD` and :data:`TAIL` say it is a whole token, also inside a JSON
string where it follows an escape (``"...\\nghp_..."``). Or it is known by the name it is assigned to
(``password``, ``discordToken``, ``ALGOLIA_API_KEY``), and then :func:`keyed` builds the pattern from a
regex for the name and one for the value, in every form this module knows:

- assignments in code and config: ``name = "v"``, ``name: v``, ``"name": "v"``, ``name := "v"``,
  ``name => 'v'``, PHP ``$name .= "v"``, ``??=``/``||=``, Ruby ``:name => "v"``, R ``name <- "v"``, and to a
  subscript (``os.environ["NAME"] = "v"``, ``$config['name'] = 'v'``);
- typed declarations: ``var name string = "v"`` (Go), ``String name = "v";`` (Java, C#, whose type is
  before the name), ``const name: string = "v"`` (TypeScript), ``let name: &str = "v"`` (Rust),
  ``val name: String = "v"`` (Kotlin, Scala), ``name: str = "v"`` (Python), C# auto-properties
  (``string Name { get; set; } = "v";``);
- a name quoted and escaped once or more (a JSON document inside a JSON string: ``\\"name\\": \\"v\\"``),
  string prefixes (``r"v"``, ``b'v'``, ``@"v"``);
- call arguments and name/value pairs: ``setenv("NAME", "v")``, ``put('name', 'v')``, ``<add key="name"
  value="v" />``, Kubernetes and ECS ``- name: NAME`` then ``value: v`` on the next line, and
  ``{"name": "NAME", "value": "v"}``;
- markup: ``<name>v</name>``, and the value on the line after the opening tag; ``name="v"`` attributes;
- YAML block scalars (``name: |`` then the value indented on the next line); a next line may also follow a
  ``\\n`` escape, in a string that holds a whole file;
- whitespace-separated: Dockerfile ``ENV NAME v``, command-line flags ``--name v`` and ``-name=v``, and
  any name followed by a quoted value (``set name "v"``);
- shell ``export NAME=v``, ``.env``, INI, TOML, HCL, ``.properties`` (``a.b.name=v``), ``.npmrc``
  (``//host/:_authToken=v``), HTTP headers (``X-Api-Key: v``) and connection strings (``Password=v;``)
  are assignments of the first kind.

A value runs to a terminator (:data:`VALUE_END`): a quote (escaped or not), whitespace, ``, ; ) ] } < &
|``, an escape sequence, or the end of the text. A pattern from :func:`keyed` may cross one line break
(:func:`spans_lines`): the scanner runs such a rule on a window of the line before and the line after each
candidate line.
"""

from __future__ import annotations

__all__ = ["LEAD", "TAIL", "VALUE_END", "keyed", "loosely_keyed", "spans_lines"]

# A token starts where no token character touches it, or right after an escape (`\n`, `\t`, `\r`) inside a
# string literal that holds a whole file. Never right after a backslash: in `\nAbc...` the token is `Abc...`,
# and the escape's `n` must not make a longer token of it.
LEAD = r"(?:(?<![A-Za-z0-9_\\-])|(?<=\\[nrt]))"
TAIL = r"(?![A-Za-z0-9_-])"
# Where a value ends: a quote (escaped or not), whitespace, a separator, a markup tag, an escape, the end.
VALUE_END = r"""(?=\\*["'`]|[\s,;)\]}<&|]|\\[nrt]|$)"""

_SP = r"[ \t]*"
# A line break, or one written as an escape inside a string that holds a whole file (escaped once or more:
# `\n`, `\\n`), where a value may follow its name on the next line.
_BREAK = r"(?:\r?\n|\\{1,3}(?:r\\{1,3})?n)"
# A quote, escaped any number of times (JSON holding JSON holding a value).
_QUOTE = r"""\\{0,3}["'`]"""
# String-literal prefixes before an opening quote: Python r/b/f/u, C# @ and $, Rust/C++ raw strings.
_OPENING = rf"""(?:(?:[rRbBfFuU]{{1,2}}|@|\$@?|[rR]\#?)?{_QUOTE})"""
# The same without the backtick, for the forms prose also has: in Markdown, `name`, `value` and
# pass `name=value` are inline code, not a call or a command.
_STRING_QUOTE = r"""\\{0,3}["']"""
_STRING_OPENING = rf"""(?:(?:[rRbBfFuU]{{1,2}}|@|\$@?|[rR]\#?)?{_STRING_QUOTE})"""
# A type between the name and the operator: `: string`, ` string` (Go), `: &'static str`, `: String?`,
# `: Optional[str]`. Short, and not itself an operator.
_TYPE = r"""(?:[ \t]*:?[ \t]*[&*]?(?:'[a-z]+[ \t]+)?[A-Za-z_][\w.]{0,24}(?:[<\[][\w.,\[\] ]{0,24}[>\]])?\??)"""
_OPERATOR = r"""(?:\?\?=|\|\|=|:=|\.=|\+=|\?=|=>|<-|=(?![=>~])|:(?![:=]))"""

# What may come between the end of the name and the start of the value.
_BETWEEN = (
    r"(?:"
    # an assignment, the name and the value each optionally quoted, the name perhaps a subscript
    # (`os.environ["NAME"] = "v"`, `$config['name'] = 'v'`)
    rf"""{_QUOTE}?\]?{_SP}{_OPERATOR}{_SP}(?:[|>][-+]?{_SP}{_BREAK}[ \t]+|{_OPENING})?"""
    # a typed declaration: a type, then ` = ` and a quoted value (unquoted, `password: Ab3=x9` is YAML)
    rf"""|{_TYPE}[ \t]+:?=[ \t]*{_OPENING}"""
    # a C# auto-property's initial value: `string Name { get; set; } = "v";`
    rf"""|{_SP}\{{{_SP}get;[\w; \t]{{0,30}}\}}{_SP}={_SP}{_OPENING}"""
    # markup: `<name>v`, or `<name>` and the value on the next line
    rf"""|{_QUOTE}?{_SP}>{_SP}(?:{_BREAK}{_SP})?"""
    # call arguments: `setenv("NAME", "v")`
    rf"""|{_STRING_QUOTE}{_SP},{_SP}{_STRING_OPENING}"""
    # name/value pairs: `- name: NAME` + `value: v` (Kubernetes), `"name": "NAME", "value": "v"`, `key="NAME"
    # value="v"` (.NET)
    rf"""|{_QUOTE}?{_SP}(?:,|{_BREAK}|(?<=["'])[ \t])[ \t-]*{_QUOTE}?(?i:value){_QUOTE}?{_SP}[:=]{_SP}{_OPENING}?"""
    # `set name "v"`: whitespace, then a quoted value
    rf"""|[ \t]+{_STRING_OPENING}"""
    r")"
)
# Names whose value follows after whitespace alone: Dockerfile `ENV NAME v`, a flag `--name v`.
_SPACED_NAME = r"(?:(?<![\w-])ENV[ \t]+[\w.-]*?|(?<![\w-])--?[\w.-]*?)"


def keyed(name: str, value: str, *, rest: str = "") -> str:
    """The secret ``value`` assigned to a key whose name ends with ``name``, in every form the model knows.

    ``name`` matches the key name up to the point where ``rest`` (default: nothing) and then the assignment
    follow: a rule that requires the label to be the last word of the name passes no ``rest``, a rule that
    accepts more words after it (``DISCORD_TOKEN_V2``) passes ``[\\w.-]{0,20}``. ``value`` is the secret's own
    shape; it is captured as the group ``secret``.
    """
    return (
        rf"(?:(?:{name}){rest}{_BETWEEN}|{_SPACED_NAME}(?:{name}){rest}[ \t]+(?:{_OPENING})?)"
        rf"(?P<secret>{value})"
    )


# Between a name and its value, for the prefilter: up to 64 characters on the name's line and as many on the
# next. Every form above fits in that (short of a name and its value 64 spaces apart), so the loose pattern
# loses no real candidate line, and Hyperscan compiles it in a fraction of the time the exact alternation
# takes (the exact pattern then confirms each candidate). Bounded, so a long line is not a candidate of
# every keyed rule whose name and value-shaped text merely occur on it.
_LOOSE_GAP = r"[^\n]{0,64}(?:\n[^\n]{0,64})?"


def loosely_keyed(name: str, value: str, *, rest: str = "") -> str:
    """A superset of :func:`keyed` with the same arguments, for a prefilter to compile instead of it."""
    return rf"(?:{name}){rest}{_LOOSE_GAP}(?:{value})"


def spans_lines(pattern: str) -> bool:
    """Whether ``pattern`` can match a line break (it was built by :func:`keyed`)."""
    return r"\r?\n" in pattern
