"""flask --app wsgi <command>: scripted setup, key management, backups and account tools."""
import contextlib
import sys

import click
from flask import Flask, current_app

from . import crypto
from .accounts.auth import hash_password, revoke_tokens
from .accounts.users import USERNAME_RE, USERNAME_RULE, create_user, password_problem
from .errors import APIError
from .extensions import db
from .ops import backup as backups, export as exports, restore as restores
from .messaging import events


@contextlib.contextmanager
def _progress(length: int, label: str):
    """click's progress bar on a terminal; nothing when the output is a file or a pipe."""
    if sys.stdout.isatty():
        with click.progressbar(length=length, label=label) as bar:
            yield bar.update
    else:
        yield lambda _steps: None


def register_cli(app: Flask) -> None:
    @app.cli.command("create-owner")
    @click.option("--username", required=True)
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    def create_owner(username: str, password: str) -> None:
        """Create an owner account for scripted setups."""
        if not USERNAME_RE.fullmatch(username):
            raise click.BadParameter(USERNAME_RULE, param_hint="--username")
        if problem := password_problem(password):
            raise click.BadParameter(problem, param_hint="--password")
        try:
            user = create_user(username, password, make_owner=True)
        except APIError as exc:
            raise click.ClickException(exc.detail)
        db.session.commit()
        click.echo(f"owner {user.username} created with user_id {user.id}")

    @app.cli.command("rotate-message-key")
    def rotate_message_key() -> None:
        """Add a new message encryption key; older messages keep decrypting with their key."""
        path = current_app.config["MESSAGE_KEY_FILE"]
        crypto.encrypt("", "warm-up")  # creates the key file on a fresh data dir
        click.echo(f"new current key {crypto.rotate_key(path)} in {path}")

    @app.cli.command("backup")
    @click.argument("file", type=click.Path(dir_okay=False, writable=True))
    def backup(file: str) -> None:
        """Write a consistent backup (database, key file, uploads) to FILE (a .tar.gz), even while serving."""
        with _progress(backups.backup_steps(), "backing up") as step:
            manifest = backups.backup(file, step)
        click.echo(f"backup of the {manifest['dialect']} database and {manifest['files']} files written to {file}")

    @app.cli.command("restore")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--force", is_flag=True, help="Replace what the database and data dir already hold.")
    def restore(file: str, force: bool) -> None:
        """Restore a backup into an empty data dir and database (run with the server stopped)."""
        try:
            with _progress(restores.restore_steps(file), "restoring") as step:
                manifest = restores.restore(file, force=force, progress=step)
        except restores.RestoreRefused as exc:
            raise click.ClickException(f"{exc} (--force replaces it)" if "not empty" in str(exc) else str(exc))
        click.echo(f"restored the backup of {manifest['created_at']} ({manifest['files']} files)")

    @app.cli.command("export-user")
    @click.argument("username")
    @click.option("--output", "-o", type=click.Path(), help="A directory, or a file ending in .zip "
                  "(default: ./export-USERNAME).")
    def export_user(username: str, output: str | None) -> None:
        """Export everything held about one account: profile, decrypted messages, files."""
        user = exports.find_user(username)
        if user is None:
            raise click.ClickException(f"no account named {username!r}")
        target = output or f"export-{user.username}"
        counts = exports.export(user, target)
        click.echo(f"exported {user.username}: {counts['messages']} messages, {counts['files']} files to {target}")

    @app.cli.command("reset-password")
    @click.argument("username")
    @click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True)
    def reset_password(username: str, password: str) -> None:
        """Set a new password for an account and sign it out everywhere."""
        user = exports.find_user(username)
        if user is None:
            raise click.ClickException(f"no account named {username!r}")
        if problem := password_problem(password):
            raise click.BadParameter(problem, param_hint="--password")
        user.password_hash = hash_password(password)
        digests = revoke_tokens(user)
        db.session.commit()
        events.tokens_revoked(user.id, digests)  # the sockets opened with those tokens close too
        click.echo(f"password of {user.username} changed; {len(digests)} sessions signed out")
