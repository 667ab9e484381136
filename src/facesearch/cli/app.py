"""``facesearch`` commands: init, ingest, search, embed, compare, stats, runs, reindex, backup,
restore, and the governance sub-commands (user, token, case, review, audit, policy, suppress,
purge)."""

from __future__ import annotations

import os

import typer

from facesearch.cli import gallery, ingest, search, tools
from facesearch.cli.authorisations import register as register_authorisations
from facesearch.cli.backup import register as register_backup
from facesearch.cli.common import DatabaseUrlOption, DataDirOption
from facesearch.cli.evaluate import register as register_evaluate
from facesearch.cli.govern import register
from facesearch.cli.incidents import register as register_incidents
from facesearch.cli.keys import register as register_keys
from facesearch.cli.media import register as register_media
from facesearch.cli.migrate import register as register_migrate
from facesearch.cli.model_migration import register as register_model_migration
from facesearch.cli.models import register as register_models
from facesearch.cli.originals import register as register_originals
from facesearch.cli.reports import register as register_reports
from facesearch.cli.serve import register as register_serve
from facesearch.cli.standing import register as register_standing
from facesearch.cli.state import CliState, service_for
from facesearch.store.private import PRIVATE_UMASK

app = typer.Typer(
    name="facesearch",
    help="Face search for accountable investigations: ingest lawfully held photos, search by face.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Face search for accountable investigations: ingest lawfully held photos, search by face.

    Searches run only inside an open, approved case (see 'facesearch case'); every search,
    view, review and administrative act is written to a hash-chained audit log.
    """
    os.umask(PRIVATE_UMASK)  # everything the CLI creates is private: folders 0700, files 0600
    ctx.obj = CliState(data_dir, database_url)


app.command()(ingest.init)
app.command()(ingest.ingest)
app.command("second-pass")(ingest.second_pass)
app.command()(search.search)
app.command()(tools.embed)
app.command()(tools.compare)
app.command()(gallery.stats)
app.command()(gallery.runs)
app.command()(gallery.reindex)
register(app, lambda ctx: service_for(ctx))
register_evaluate(app)
register_serve(app)
register_migrate(app, service_for)
register_keys(app, service_for)
register_media(app, lambda ctx: service_for(ctx))
register_backup(app, service_for)
register_originals(app, service_for)
register_incidents(app, service_for)
register_standing(app, service_for)
register_reports(app, service_for)
register_authorisations(app, service_for)
models_app = register_models(app, service_for)
register_model_migration(models_app, service_for)


def main() -> None:
    app()
