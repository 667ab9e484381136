"""Governance commands: user, token, case, review, audit, purge, policy, suppress.

A thin layer over the application service (:class:`facesearch.app.Service`), the same one the
HTTP API calls. The main CLI registers them with::

    from facesearch.cli.govern import register
    register(app, service_factory)

``service_factory(ctx)`` returns this invocation's service (the context lets it read global
options).

Every command proves who is acting with a credential (``facesearch.cli.groups.principal_for``):
an API token (``--token``, ``--token-file``) whose owner acts, or ``--as USER`` with that
user's password (prompted, or ``--password-stdin``). Refusals print the reason and exit with
status 2; other errors exit with status 1.
"""

from __future__ import annotations

import typer

from facesearch.cli.accounts import build_account_apps
from facesearch.cli.cases import build_case_apps
from facesearch.cli.compliance import add_compliance_commands
from facesearch.cli.confirm import register as register_confirm
from facesearch.cli.groups import ServiceFactory
from facesearch.cli.oversight import build_oversight_apps, make_purge_command
from facesearch.cli.probes import register as register_probes

__all__ = ["build_apps", "register"]


def build_apps(factory: ServiceFactory) -> dict[str, typer.Typer]:
    """The sub-apps by name: user, token, case, review, audit, policy, suppress."""
    apps = {
        **build_account_apps(factory),
        **build_case_apps(factory),
        **build_oversight_apps(factory),
    }
    add_compliance_commands(apps, factory)
    return apps


def register(app: typer.Typer, factory: ServiceFactory) -> None:
    """Add the governance sub-apps and the ``purge`` command to ``app``."""
    for name, sub in build_apps(factory).items():
        app.add_typer(sub, name=name)
    app.command("purge")(make_purge_command(factory))
    register_confirm(app, factory)
    register_probes(app, factory)
