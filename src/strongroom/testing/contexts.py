"""Every way code and config write a value under a name, as renderers: public test data, like ``samples``.

A :class:`Form` turns a key name and a value into the text a file would hold (``api_token`` and a token
become ``const apiToken: string = "…";``, ``<apiToken>`` with the value on the next line, a ``.env`` file
inside a JSON string, ...). Rendering a rule's sample (``strongroom.testing.samples``) in every form and
scanning the text tests the rule in every context: ``tests/rules/test_context_matrix.py`` does that for
every rule, and a user can do the same for their own rules or their redaction pipeline.

A form writes a name the way its language does (``api_token`` is ``apiToken`` in Java, ``API_TOKEN`` in an
environment, ``--api-token`` on a command line, as given in JSON, YAML and XML). A form that writes its own
name (``.npmrc``'s ``_authToken``, an ``Authorization: Bearer`` header) holds only a credential on its own,
and says which label word its name carries. Not every value fits every form: :meth:`Form.fits` is false for
a value the form cannot hold as written (whitespace in a bare value, ``&`` in XML text, a quote inside the
same quotes), and such a cell is no test.

Negatives: :data:`PLACEHOLDERS` are stand-ins that no rule may report in any form, and :data:`QUIET` are
texts where a secret-named label is followed by something that is not a secret (a call, a template, a
reference to a secret store) that must raise no finding at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from strongroom.testing.samples import Sample

__all__ = [
    "FORMS",
    "PLACEHOLDERS",
    "QUIET",
    "Form",
    "assignment",
    "camel",
    "env_name",
    "header_name",
    "kebab",
    "parse_assignment",
    "pascal",
    "snake",
]

# --- names ---------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")


def _words(name: str) -> list[str]:
    """``HEROKU_API_KEY``, ``ibmCloudApiKey``, ``bitbucket.token``, ``secret-access-key`` -> lower-case words."""
    return [w.lower() for part in re.split(r"[^A-Za-z0-9]+", name) for w in _WORD.findall(part)]


def snake(name: str) -> str:
    return "_".join(_words(name))


def env_name(name: str) -> str:
    """The name as an environment variable: ``cloudflareToken`` -> ``CLOUDFLARE_TOKEN``."""
    return snake(name).upper()


def camel(name: str) -> str:
    first, *rest = _words(name)
    return first + "".join(w.capitalize() for w in rest)


def pascal(name: str) -> str:
    return "".join(w.capitalize() for w in _words(name))


def kebab(name: str) -> str:
    return "-".join(_words(name))


def header_name(name: str) -> str:
    """The name as a custom HTTP header: ``api_token`` -> ``X-Api-Token``."""
    return "X-" + "-".join(w.capitalize() for w in _words(name))


# --- what a value may hold in a form -------------------------------------------------------------------------


def _none_of(chars: str) -> Callable[[str], bool]:
    return lambda value: not any(ch in value for ch in chars)


_LINE = _none_of("\r\n")  # a JSON string escapes anything; a YAML block scalar line holds anything but a break
_DOUBLE_QUOTED = _none_of('"\\\r\n')
_SINGLE_QUOTED = _none_of("'\\\r\n")
_BARE = _none_of(" \t\r\n\"'`\\")  # a value up to whitespace: YAML plain, INI, .env, properties
_SHELL_WORD = _none_of(" \t\r\n\"'`\\;&|<>()")  # one word of a shell command line
_QUERY = _none_of(" \t\r\n\"'`\\&#")  # one query parameter, unencoded
_CONNECTION = _none_of(" \t\r\n\"'`\\;")  # one `Key=value;` field
_XML_TEXT = _none_of("<&\r\n")
_XML_ATTRIBUTE = _none_of('<&"\r\n')


# --- the forms ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    """One way to write a value under a name.

    ``render(name, value)`` is the text. A ``named`` form writes the given name; one that is not writes its
    own (``label`` is the label word in it, ``None`` for none: ``Authorization: Bearer``) and holds only a
    whole credential, never a URL or a connection string with one inside.
    """

    id: str
    render: Callable[[str, str], str]
    holds: Callable[[str], bool]
    named: bool = True
    label: str | None = None

    def fits(self, value: str, *, credential: bool = True) -> bool:
        """Whether ``value`` can be written in this form; ``credential``: the value is a secret on its own."""
        return bool(value) and self.holds(value) and (self.named or credential)


def _json_file(files: dict[str, str]) -> str:
    """A JSON map of file names to file contents: each file a string with ``\\n`` escapes."""
    return json.dumps({"version": 2, "files": files})


_FORM_TABLE: tuple[tuple[str, Callable[[str, str], str], Callable[[str], bool]], ...] = (
    # code
    ("python-assign", lambda n, v: f'import os\n\n{env_name(n)} = "{v}"\n', _DOUBLE_QUOTED),
    ("python-typed", lambda n, v: f'class Settings:\n    {snake(n)}: str = "{v}"\n', _DOUBLE_QUOTED),
    ("python-dict", lambda n, v: f"CONFIG = {{'region': 'eu', '{n}': '{v}'}}\n", _SINGLE_QUOTED),
    ("python-kwarg", lambda n, v: f'client = Client(region="eu", {snake(n)}="{v}")\n', _DOUBLE_QUOTED),
    ("python-environ", lambda n, v: f'os.environ["{env_name(n)}"] = "{v}"\n', _DOUBLE_QUOTED),
    ("js-const", lambda n, v: f"const {camel(n)} = '{v}';\n", _SINGLE_QUOTED),
    ("js-object", lambda n, v: f'module.exports = {{\n  region: "eu",\n  {camel(n)}: "{v}",\n}};\n', _DOUBLE_QUOTED),
    ("ts-typed", lambda n, v: f'export const {camel(n)}: string = "{v}";\n', _DOUBLE_QUOTED),
    ("ruby-hash", lambda n, v: f"config = {{ :region => 'eu', :{snake(n)} => '{v}' }}\n", _SINGLE_QUOTED),
    ("ruby-ivar", lambda n, v: f"    @{snake(n)} = '{v}'\n", _SINGLE_QUOTED),
    ("php-assign", lambda n, v: f"<?php\n${camel(n)} = '{v}';\n", _SINGLE_QUOTED),
    ("php-concat", lambda n, v: f'<?php\n${camel(n)} = "";\n${camel(n)} .= "{v}";\n', _DOUBLE_QUOTED),
    ("php-array-assign", lambda n, v: f"<?php\n$config['{snake(n)}'] = '{v}';\n", _SINGLE_QUOTED),
    ("php-array", lambda n, v: f"return [\n    '{snake(n)}' => '{v}',\n];\n", _SINGLE_QUOTED),
    ("go-short", lambda n, v: f'func main() {{\n\t{camel(n)} := "{v}"\n}}\n', _DOUBLE_QUOTED),
    ("go-var", lambda n, v: f'package config\n\nvar {camel(n)} string = "{v}"\n', _DOUBLE_QUOTED),
    ("java-field", lambda n, v: f'    private static final String {env_name(n)} = "{v}";\n', _DOUBLE_QUOTED),
    ("java-local", lambda n, v: f'        String {camel(n)} = "{v}";\n', _DOUBLE_QUOTED),
    ("csharp-verbatim", lambda n, v: f'        string {camel(n)} = @"{v}";\n', _DOUBLE_QUOTED),
    (
        "csharp-property",
        lambda n, v: f'    public string {pascal(n)} {{ get; set; }} = "{v}";\n',
        _DOUBLE_QUOTED,
    ),
    ("kotlin-val", lambda n, v: f'    val {camel(n)}: String = "{v}"\n', _DOUBLE_QUOTED),
    ("rust-let", lambda n, v: f'    let {snake(n)}: &str = "{v}";\n', _DOUBLE_QUOTED),
    ("rust-const", lambda n, v: f'const {env_name(n)}: &str = "{v}";\n', _DOUBLE_QUOTED),
    ("swift-let", lambda n, v: f'let {camel(n)} = "{v}"\n', _DOUBLE_QUOTED),
    ("swift-typed", lambda n, v: f'    static let {camel(n)}: String = "{v}"\n', _DOUBLE_QUOTED),
    ("r-assign", lambda n, v: f'{snake(n)} <- "{v}"\n', _DOUBLE_QUOTED),
    ("setenv-call", lambda n, v: f'os.environ.setdefault("{env_name(n)}", "{v}")\n', _DOUBLE_QUOTED),
    # shell and containers
    ("shell-export", lambda n, v: f'#!/bin/sh\nexport {env_name(n)}="{v}"\n', _DOUBLE_QUOTED),
    ("shell-export-bare", lambda n, v: f"export {env_name(n)}={v}\n", _SHELL_WORD),
    ("dotenv", lambda n, v: f"DEBUG=false\n{env_name(n)}={v}\n", _BARE),
    ("dockerfile-env-space", lambda n, v: f"FROM python:3.12-slim\nENV {env_name(n)} {v}\n", _BARE),
    ("dockerfile-env-eq", lambda n, v: f"FROM python:3.12-slim\nENV {env_name(n)}={v}\n", _BARE),
    (
        "k8s-secret-stringdata",
        lambda n, v: f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  {n}: {v}\n",
        _BARE,
    ),
    (
        "k8s-env",
        lambda n, v: f'        env:\n        - name: {env_name(n)}\n          value: "{v}"\n',
        _DOUBLE_QUOTED,
    ),
    ("compose-env-list", lambda n, v: f"    environment:\n      - {env_name(n)}={v}\n", _BARE),
    ("cli-flag-space", lambda n, v: f"deploy --region eu --{kebab(n)} {v}\n", _SHELL_WORD),
    ("cli-flag-eq", lambda n, v: f"deploy --region=eu --{kebab(n)}={v}\n", _SHELL_WORD),
    # data and config files
    ("json", lambda n, v: json.dumps({"region": "eu", n: v}, indent=2) + "\n", _LINE),
    ("json-name-value", lambda n, v: json.dumps([{"name": env_name(n), "value": v}]) + "\n", _LINE),
    ("json-in-json", lambda n, v: _json_file({"config.json": json.dumps({"region": "eu", n: v}, indent=2)}), _LINE),
    ("json-escaped-dotenv", lambda n, v: _json_file({".env": f"DEBUG=false\n{env_name(n)}={v}\n"}), _BARE),
    ("json-escaped-ini", lambda n, v: _json_file({"app.ini": f"[auth]\n{n} = {v}\n"}), _BARE),
    (
        "json-escaped-xml-next-line",
        lambda n, v: _json_file({"app.xml": f"<config>\n  <{camel(n)}>\n    {v}\n  </{camel(n)}>\n</config>\n"}),
        _XML_TEXT,
    ),
    ("xml-element", lambda n, v: f"<config>\n  <{camel(n)}>{v}</{camel(n)}>\n</config>\n", _XML_TEXT),
    (
        "xml-element-next-line",
        lambda n, v: f"<config>\n  <{camel(n)}>\n    {v}\n  </{camel(n)}>\n</config>\n",
        _XML_TEXT,
    ),
    ("xml-attribute", lambda n, v: f'<service region="eu" {camel(n)}="{v}" />\n', _XML_ATTRIBUTE),
    ("dotnet-add", lambda n, v: f'<appSettings>\n  <add key="{n}" value="{v}" />\n</appSettings>\n', _XML_ATTRIBUTE),
    ("html-input", lambda n, v: f'<input type="hidden" name="{n}" value="{v}">\n', _XML_ATTRIBUTE),
    ("yaml-flat", lambda n, v: f"region: eu\n{n}: {v}\n", _BARE),
    ("yaml-quoted", lambda n, v: f"region: eu\n{n}: '{v}'\n", _SINGLE_QUOTED),
    ("yaml-nested", lambda n, v: f"app:\n  auth:\n    {n}: {v}\n  retries: 3\n", _BARE),
    ("yaml-block-literal", lambda n, v: f"app:\n  {n}: |\n    {v}\n  retries: 3\n", _LINE),
    ("yaml-block-folded", lambda n, v: f"app:\n  {n}: >-\n    {v}\n  retries: 3\n", _LINE),
    ("toml", lambda n, v: f'[auth]\nregion = "eu"\n{n} = "{v}"\n', _DOUBLE_QUOTED),
    ("ini", lambda n, v: f"[auth]\nregion = eu\n{n} = {v}\n", _BARE),
    ("hcl", lambda n, v: f'provider "app" {{\n  region = "eu"\n  {snake(n)} = "{v}"\n}}\n', _DOUBLE_QUOTED),
    ("properties", lambda n, v: f"app.region=eu\napp.auth.{n}={v}\n", _BARE),
    ("http-header", lambda n, v: f"GET /v1/me HTTP/1.1\nHost: api.example.com\n{header_name(n)}: {v}\n", _BARE),
    ("log-line", lambda n, v: f"2024-05-01T12:00:00Z INFO worker[42] loaded {n}={v} retries=3\n", _BARE),
    ("url-query", lambda n, v: f"https://api.example.com/callback?state=ok&{n}={v}&retry=1\n", _QUERY),
)

# Forms that write their own key name: (id, render(value), holds, the label word in that name).
_OWN_NAME_TABLE: tuple[tuple[str, Callable[[str], str], Callable[[str], bool], str | None], ...] = (
    (
        "npmrc",
        lambda v: f"registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={v}\n",
        _BARE,
        "token",
    ),
    (
        "connection-string",
        lambda v: f'"Server=db.internal;Database=app;User Id=svc;Password={v};Encrypt=true"\n',
        _CONNECTION,
        "password",
    ),
    (
        "curl-bearer",
        lambda v: f"curl -H 'Authorization: Bearer {v}' https://api.example.com/v1/me\n",
        _SHELL_WORD,
        None,
    ),
    ("curl-api-key", lambda v: f"curl -H 'X-Api-Key: {v}' https://api.example.com/v1/me\n", _SHELL_WORD, "api_key"),
    ("curl-user", lambda v: f"curl -u svc:{v} https://api.example.com/v1/me\n", _SHELL_WORD, None),
    # A file holding the credential alone on a line, as a JSON string: it follows a `\n` escape.
    ("json-escaped-line", lambda v: _json_file({"deploy/notes.txt": f"# deploy key\n{v}\n"}), _BARE, None),
)


def _own_name(render: Callable[[str], str]) -> Callable[[str, str], str]:
    return lambda _name, value: render(value)


FORMS: tuple[Form, ...] = (
    *(Form(id_, render, holds) for id_, render, holds in _FORM_TABLE),
    *(Form(id_, _own_name(render), holds, named=False, label=label) for id_, render, holds, label in _OWN_NAME_TABLE),
)
"""Every form, each id unique (``python-typed``, ``xml-element-next-line``, ``json-in-json``, ...)."""


# --- negatives -----------------------------------------------------------------------------------------------

PLACEHOLDERS: tuple[str, ...] = (
    "${API_TOKEN}",
    "<your-token>",
    "changeme",
    "xxxxxxxx",
    "********",
    "{{ .Values.apiToken }}",
    "%(api_token)s",
    "your-api-token-here",
)
"""Stand-ins written where a credential goes: no rule may report one, under any name, in any form."""

QUIET: tuple[str, ...] = (
    "token = get_token()\n",
    'os.environ["API_TOKEN"] = get_token()\n',
    "$config['password'] = $_POST['password'];\n",
    'headers["X-Api-Key"] = settings.API_KEY\n',
    "    public string ApiToken { get; set; } = string.Empty;\n",
    "    :param password: the user's password, never logged\n",
    "password = getpass.getpass(prompt='Password: ')\n",
    'api_key = os.environ["API_KEY"]\n',
    "<password>${PASSWORD}</password>\n",
    "<password>\n    ${DB_PASSWORD}\n</password>\n",
    "<apiToken>\n  <value>{{ token }}</value>\n</apiToken>\n",
    'psql --host db --password "$PASS"\n',
    "deploy --api-token $(cat /run/secrets/api_token)\n",
    "ENV PASSWORD_FILE /run/secrets/db\n",
    "ENV API_TOKEN_PATH=/var/run/secrets/token\n",
    "env:\n- name: API_TOKEN\n  valueFrom:\n    secretKeyRef:\n      name: app\n      key: api_token\n",
    "db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n",
    "    password: ${{ secrets.DB_PASSWORD }}\n",
    "token: {{ .Values.token | quote }}\n",
    "client_secret: |\n  {{- .Values.clientSecret | nindent 2 }}\n",
    "spring.datasource.password=${DB_PASSWORD:changeme}\n",
    "The token is refreshed by the client before it expires.\n",
    "Set the password in your environment, then run `make deploy`.\n",
    'if (token !== expectedToken) { throw new Error("invalid token"); }\n',
    "secret_name: production/app/database\n",
    "private_key_path: /etc/ssl/private/server.key\n",
    '{"name": "API_TOKEN", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/app/token"}\n',
    '"{\\n  \\"api_token\\": \\"${API_TOKEN}\\"\\n}"\n',
)
"""Secret-named labels followed by no secret: a call, a template, a path, a store reference, prose."""


# --- reading a sample ------------------------------------------------------------------------------------------

_ASSIGNMENT = re.compile(r'(?P<name>[\w.-]+) = "(?P<value>[^"\r\n]*)"\n?')


def parse_assignment(text: str) -> tuple[str, str] | None:
    """``(name, value)`` of a text ``name = "value"`` (how samples write their negatives), else None."""
    match = _ASSIGNMENT.fullmatch(text)
    return (match["name"], match["value"]) if match else None


def assignment(example: Sample) -> tuple[tuple[str, ...], str]:
    """The names and the whole value a sample's secret is assigned to.

    A sample made by a custom generator may leave its value empty although the secret sits inside a longer
    one (a password inside a database URL): then its first context, ``name = "value"``, says what it is.
    """
    if example.assigned != example.secret:
        return example.names, example.assigned
    parsed = parse_assignment(example.contexts[0])
    if parsed is not None and parsed[1] != example.secret and example.secret in parsed[1]:
        return (parsed[0],), parsed[1]
    return example.names, example.assigned
