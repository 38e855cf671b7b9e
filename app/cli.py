"""flask --app wsgi <command>: scripted setup and key management."""
import click
from flask import Flask, current_app

from . import crypto
from .accounts.users import USERNAME_RE, USERNAME_RULE, create_user, password_problem
from .errors import APIError
from .extensions import db


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
