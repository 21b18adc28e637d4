"""``bootflow init``: a deployment's one-time steps, without starting anything."""

from __future__ import annotations

import click

from bootflow import deploy
from bootflow.cli.context import CliContext, CliError, pass_context
from bootflow.cli.options import seconds_option


@click.command()
@click.argument("steps", nargs=-1, type=click.Choice(deploy.STEPS))
@seconds_option(
    "--wait", 60.0, "Seconds to keep retrying while Temporal or the services are not up yet."
)
@click.option(
    "--new-secrets",
    is_flag=True,
    help="Print a fresh set of the deployment's secrets as an env file, and do nothing else.",
)
@pass_context
def init(obj: CliContext, steps: tuple[str, ...], wait: float, new_secrets: bool) -> None:
    """Prepare a deployment's database, Temporal namespace and cloud; each step is safe to
    run again.

    \b
    database  schema migrations (Alembic), then identity's users, projects, roles and
              catalog, and the flavors (needs the database)
    temporal  bootflow's search attributes on the namespace (needs Temporal)
    cloud     the default image and the demo network, through the services' APIs, and
              <data dir>/openrc (needs identity, image and network up)

    Without STEPS: database and temporal. Settings come from the environment (see
    docs/deploy.md); `bootflow up` does all of this itself.
    """
    if new_secrets:
        click.echo(deploy.env_file(deploy.new_secrets()), nl=False)
        return
    settings = obj.settings
    try:
        for step in steps or deploy.DEFAULT_STEPS:
            if step == "database":
                revision = deploy.init_database(settings)
                click.echo(f"database: at revision {revision}; identity and flavors seeded")
            elif step == "temporal":
                added = deploy.init_temporal(settings, wait)
                names = ", ".join(added) if added else "none missing"
                click.echo(
                    f"temporal: search attributes on namespace {settings.temporal_namespace} "
                    f"({settings.temporal_address}): added {names}"
                )
            else:
                openrc = deploy.init_cloud(settings, wait)
                click.echo(f"cloud: default image and network present; credentials in {openrc}")
    except deploy.DeployError as exc:
        raise CliError(str(exc)) from exc
