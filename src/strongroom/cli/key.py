"""``strongroom key rotate|rewrap``: KEK rotation for the local key file."""

from __future__ import annotations

import typer
from rich.progress import Progress

from strongroom.cli import common
from strongroom.crypto.providers.local import LocalKeyProvider
from strongroom.errors import KeyProviderError

app = typer.Typer(help="Rotate the key-encryption key and rewrap data keys.", no_args_is_help=True)


def _rewrap(provider: LocalKeyProvider) -> int:
    from strongroom.bootstrap import open_vault

    with open_vault(common.settings(), key_provider=provider) as vault, \
            Progress(console=common.err, transient=True) as progress:
        task = progress.add_task("rewrapping data keys", total=None)
        return vault.rewrap_data_keys(progress=lambda done, total: progress.update(task, completed=done,
                                                                                     total=total))


@app.command("rotate")
def rotate(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Add a new KEK version to this environment's key file, make it primary, and rewrap every data key."""
    settings = common.settings()
    provider = LocalKeyProvider.from_file(settings.key_file, expected_environment=settings.environment)
    version = provider.add_version()
    count = _rewrap(provider)
    if as_json:
        common.print_json({"key_id": provider.key_id, "primary": version, "rewrapped": count})
    else:
        common.out.print(f"key {provider.key_id} now at version {version}; {count} data keys rewrapped")


@app.command("rewrap")
def rewrap(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Rewrap every data key not yet under the key provider's current KEK version (resumes a rotation)."""
    from strongroom.crypto.providers.local import default_provider

    settings = common.settings()
    provider = default_provider(settings.key_file, settings.environment)
    if not isinstance(provider, LocalKeyProvider):
        raise KeyProviderError("rewrap needs a local key provider")
    count = _rewrap(provider)
    if as_json:
        common.print_json({"key_id": provider.key_id, "primary": provider.current_version(), "rewrapped": count})
    else:
        common.out.print(f"{count} data keys rewrapped under {provider.key_id} v{provider.current_version()}")
