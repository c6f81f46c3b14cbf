"""A real SoftHSM2 token for tests of the ``pkcs11:`` key provider, initialised at test time.

``start_softhsm_token(directory)`` writes a ``softhsm2.conf`` whose token directory is inside ``directory``,
points ``SOFTHSM2_CONF`` at it for this process, and initialises two tokens with ``softhsm2-util`` under
generated PINs (typed at its prompts through a pseudo-terminal, so no PIN is ever in an argv); the user PIN
is written to a 0600 pin file that the URIs name with ``pin-source=``.

SoftHSM reads its configuration and its list of tokens once, at ``C_Initialize`` (python-pkcs11 loads a module
once per process), so a process gets ONE token directory: call this from a session-scoped fixture, before
anything loads the module; a second call in the same process returns the first call's tokens. Tests share
the token and keep apart by using different ``object=`` labels (``uri_for``).

``spare_label`` is a second token that no provider of a test logs in to unless the test names it: PKCS#11
login state is per process and per token, so only a token nobody in this process is logged in to can show
the token itself refusing a wrong PIN (``CKR_PIN_INCORRECT``).
"""

from __future__ import annotations

import os
import pty
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SOFTHSM_UTIL = "softhsm2-util"
SKIP_REASON = f"{SOFTHSM_UTIL} is not installed (Debian: apt-get install softhsm2)"


@dataclass(frozen=True)
class SoftHsmToken:
    label: str
    spare_label: str
    conf_path: Path
    pin_file: Path
    module_path: str = SOFTHSM_MODULE

    def uri_for(self, object_label: str, *, token: str | None = None, pin_file: Path | None = None) -> str:
        """A ``pkcs11:`` URI of keys labelled ``<object_label>/v<N>`` in the token (default: the main one)."""
        return (
            f"pkcs11:token={quote(token or self.label, safe='')};object={quote(object_label, safe='')}"
            f"?module-path={quote(self.module_path, safe='/')}"
            f"&pin-source=file:{quote(str(pin_file or self.pin_file), safe='/')}"
        )

    def pin(self) -> str:
        """The user PIN (tests use it only to plant it as a canary or build a wrong one)."""
        return self.pin_file.read_text().strip()


_started: SoftHsmToken | None = None


def softhsm_available() -> bool:
    return shutil.which(SOFTHSM_UTIL) is not None


def start_softhsm_token(directory: Path, *, label: str = "strongroom") -> SoftHsmToken:
    """Initialise this process's SoftHSM2 tokens in ``directory`` (see the module docstring)."""
    global _started  # noqa: PLW0603 -- one token directory per process, as SoftHSM itself allows
    if _started is not None:
        return _started
    directory.mkdir(parents=True, exist_ok=True)
    tokens = directory / "tokens"
    tokens.mkdir(mode=0o700, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin = secrets.token_urlsafe(12)
    pin_file = directory / "user.pin"
    fd = os.open(pin_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(pin + "\n")
    spare = label + "-spare"
    for token_label in (label, spare):
        _init_token(token_label, so_pin=secrets.token_urlsafe(12), user_pin=pin, conf=conf)
    _started = SoftHsmToken(label=label, spare_label=spare, conf_path=conf, pin_file=pin_file)
    return _started


def _init_token(label: str, *, so_pin: str, user_pin: str, conf: Path) -> None:
    """``softhsm2-util --init-token --free``, answering its four PIN prompts through a pseudo-terminal."""
    answers = [so_pin, so_pin, user_pin, user_pin]
    master, slave = pty.openpty()
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    process = subprocess.Popen(
        [SOFTHSM_UTIL, "--init-token", "--free", "--label", label],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    output = b""
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            while answers and output.count(b"PIN: ") > 4 - len(answers):
                os.write(master, answers.pop(0).encode() + b"\n")
    finally:
        os.close(master)
    if process.wait() != 0:
        text = output.decode(errors="replace")
        for secret in (so_pin, user_pin):
            text = text.replace(secret, "<pin>")
        raise RuntimeError(f"{SOFTHSM_UTIL} --init-token --label {label} failed:\n{text}")


__all__ = ["SKIP_REASON", "SOFTHSM_MODULE", "SoftHsmToken", "softhsm_available", "start_softhsm_token"]
