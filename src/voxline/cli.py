"""`voxline serve | demo | migrate | partner … | key … | admin …`: run the server and manage accounts from a shell."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from voxline.settings import Settings


def _configure_logging() -> None:
    """Set up loguru (Pipecat's logger) before anything imports Pipecat, which logs a banner at import.

    Its records go to stderr at the configured log level (VOXLINE_LOG_LEVEL), so real warnings and
    errors still show; the import-time banner of the `pipecat` package is dropped. Only the command line
    does this: an app embedded in another program leaves that program's logging alone.
    """
    from loguru import logger

    try:
        level = Settings().log_level.upper()
    except Exception:  # noqa: BLE001 - a bad setting is reported by the command that reads it
        level = "INFO"
    if level not in {"TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"}:
        level = "INFO"

    def not_the_banner(record: Any) -> bool:
        return not (record["name"] == "pipecat" and record["function"] == "<module>" and record["level"].no < 30)

    logger.remove()
    logger.add(sys.stderr, level=level, filter=not_the_banner)


_configure_logging()

from voxline.accounts import admin_tokens, partners  # noqa: E402 - after the logging set-up: these import Pipecat
from voxline.context import Context  # noqa: E402
from voxline.core import destination, keys, reachability  # noqa: E402
from voxline.store import migrate as migrations  # noqa: E402
from voxline.telephony.registry import PROVIDERS  # noqa: E402

T = TypeVar("T")
app = typer.Typer(
    help="Voxline: outbound AI voice calls behind a Vocobase-compatible v2 API.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
partner_app = typer.Typer(help="Create and change partner accounts.", no_args_is_help=True)
key_app = typer.Typer(help="Issue and revoke API keys.", no_args_is_help=True)
app.add_typer(partner_app, name="partner")
app.add_typer(key_app, name="key")
admin_app = typer.Typer(help="Credentials for the dashboard's operator view (/operator).", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
webhooks_app = typer.Typer(help="Receive webhooks while you develop.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
console = Console()
err_console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")]


def _settings() -> Settings:
    return Settings()


def _run(work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(work)


async def _with_ctx(fn, *args: Any) -> Any:  # noqa: ANN001
    ctx = Context.build(_settings())
    try:
        return await fn(ctx, *args)
    finally:
        await ctx.close()


def _account_call(fn, *args: Any, creates: bool = False) -> Any:  # noqa: ANN001
    settings = _settings()
    if not creates:
        _require_existing_data(settings)
    migrations.upgrade(settings.resolved_database_url, settings.database_schema)
    try:
        return _run(_with_ctx(fn, *args))
    except partners.AccountError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _require_existing_data(settings: Settings) -> None:
    """A command that reads accounts, run where no Voxline data is, says so instead of making an empty store."""
    if settings.database_url is None and not settings.data_dir.exists():
        err_console.print(
            f"[red]error:[/red] no Voxline data here: {settings.data_dir.resolve()} does not exist. Run this "
            "in the folder where you ran `voxline partner create` / `voxline serve`, or set VOXLINE_DATA_DIR "
            "(or VOXLINE_DATABASE_URL)."
        )
        raise typer.Exit(2)


@app.command()
def migrate() -> None:
    """Apply database migrations and exit."""
    settings = _settings()
    migrations.upgrade(settings.resolved_database_url, settings.database_schema)
    console.print("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes")] = 1,
) -> None:
    """Apply migrations, then serve the API.

    Carriers call this server back at VOXLINE_PUBLIC_BASE_URL; unset, it is http://HOST:PORT of this very
    server, printed at start-up. Live calls need a URL carriers can reach from the internet (a tunnel or load
    balancer in front); sandbox calls (rg_test_ keys) work on any.
    """
    import uvicorn

    public_url = os.environ.get("VOXLINE_PUBLIC_BASE_URL") or own_url(host, port)
    os.environ["VOXLINE_PUBLIC_BASE_URL"] = public_url  # the server processes read it from their settings
    os.environ["VOXLINE_SERVER_PROCESSES"] = str(workers)  # their default ceiling of calls shares the cores
    settings = _settings()
    migrations.upgrade(settings.resolved_database_url, settings.database_schema)
    settings.resolved_encryption_key  # noqa: B018 - create the key file before workers race for it
    typer.echo(f"Voxline on http://{host}:{port}; carriers must reach it at {public_url} (VOXLINE_PUBLIC_BASE_URL)")
    if reachability.is_private_url(public_url):
        typer.echo(
            "  that URL is private: sandbox calls (rg_test_ keys) work; live calls are refused with "
            "PUBLIC_URL_UNREACHABLE until VOXLINE_PUBLIC_BASE_URL names a public URL of this server"
        )
    from uvicorn.config import LOGGING_CONFIG

    from voxline.core.log_context import logging_config

    uvicorn.run(
        "voxline.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        log_config=logging_config(LOGGING_CONFIG, settings.log_level),  # our lines name their call_id/session_id
        access_log=False,
        http="voxline.api.http_protocol:OneWriteHttpToolsProtocol",  # httptools, each response in one write
    )


def own_url(host: str, port: int) -> str:
    """This server's URL as seen from this machine: a wildcard bind is reached through loopback."""
    reach = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in reach and not reach.startswith("["):
        reach = f"[{reach}]"
    return f"http://{reach}:{port}"


@app.command()
def demo(
    provider: Annotated[
        str, typer.Option(help="Emulated carrier: twilio, plivo, vobiz, exotel, mcube, or sip (the sandbox SIP trunk)")
    ] = "twilio",
    llm_base_url: Annotated[
        str | None, typer.Option(help="A real OpenAI-compatible model instead of the scripted brain")
    ] = None,
    llm_api_key: Annotated[
        str | None, typer.Option(help="Key for --llm-base-url", envvar="VOXLINE_LLM_API_KEY")
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model name for --llm-base-url")] = None,
    keep: Annotated[
        bool,
        typer.Option(help="Keep the temporary data dir and copy the call's recording to ./voxline-demo-PROVIDER.wav"),
    ] = False,
) -> None:
    """Run one whole sandbox call on this machine (no network, no accounts) and show it as it happens."""
    from voxline.devtools import demo as demo_run

    raise typer.Exit(demo_run.main(provider, llm_base_url, llm_api_key, llm_model, keep))


def _limits(
    concurrency: int | None,
    agent_limit: int | None,
    rate_limit: int | None,
    calls_rate_limit: int | None,
    providers: str | None,
    voicemail: bool | None = None,
    status: str | None = None,
    sandbox_concurrency: int | None = None,
) -> partners.Limits:
    return partners.Limits(
        concurrency=concurrency,
        sandbox_concurrency=sandbox_concurrency,
        agent_limit=agent_limit,
        rate_limit_per_min=rate_limit,
        calls_rate_limit_per_min=calls_rate_limit,
        providers=partners.parse_providers(providers) if providers is not None else None,
        voicemail_detection=voicemail,
        status=status,
    )


ProvidersOpt = Annotated[str | None, typer.Option("--providers", help=f"Comma list: {','.join(PROVIDERS)}")]
ConcurrencyOpt = Annotated[int | None, typer.Option("--concurrency", help="Simultaneous active calls (default 5)")]
SandboxConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--sandbox-concurrency",
        help="Simultaneous sandbox (rg_test_) calls, counted apart from live ones "
        "(default VOXLINE_SANDBOX_CONCURRENCY, 10)",
    ),
]
AgentLimitOpt = Annotated[int | None, typer.Option("--agent-limit", help="Maximum agents (default 10)")]
RateOpt = Annotated[int | None, typer.Option("--rate-limit", help="General requests/min per key")]
CallsRateOpt = Annotated[int | None, typer.Option("--calls-rate-limit", help="/calls/* requests/min per key")]


@partner_app.command("create")
def partner_create(
    name: str,
    providers: ProvidersOpt = None,
    concurrency: ConcurrencyOpt = None,
    sandbox_concurrency: SandboxConcurrencyOpt = None,
    agent_limit: AgentLimitOpt = None,
    rate_limit: RateOpt = None,
    calls_rate_limit: CallsRateOpt = None,
    test_key: Annotated[bool, typer.Option("--test", help="Issue an rg_test_ (sandbox) key instead")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a partner and print its first API key (shown once)."""
    try:
        limits = _limits(
            concurrency, agent_limit, rate_limit, calls_rate_limit, providers, sandbox_concurrency=sandbox_concurrency
        )
    except partners.AccountError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None

    async def work(ctx: Context) -> partners.IssuedKey:
        issued = await partners.create_partner(ctx, name, limits)
        if test_key:
            issued = await partners.create_key(ctx, issued.partner_id, keys.TEST)
        return issued

    issued = _account_call(work, creates=True)  # the first command on a new machine makes the data dir
    _print_key(issued, as_json, f"partner {name} created")


@partner_app.command("update")
def partner_update(
    partner: str,
    providers: ProvidersOpt = None,
    concurrency: ConcurrencyOpt = None,
    sandbox_concurrency: SandboxConcurrencyOpt = None,
    agent_limit: AgentLimitOpt = None,
    rate_limit: RateOpt = None,
    calls_rate_limit: CallsRateOpt = None,
    voicemail_detection: Annotated[
        bool | None, typer.Option("--voicemail-detection/--no-voicemail-detection", help="Account-level VMD")
    ] = None,
    status: Annotated[str | None, typer.Option(help="active or suspended")] = None,
    allowed_countries: Annotated[
        str | None, typer.Option("--allowed-countries", help="Countries calls may go to, e.g. IN,US; 'all' (default)")
    ] = None,
    allow_number_types: Annotated[
        str | None,
        typer.Option(
            "--allow-number-types",
            help=f"Lift default blocks, e.g. PREMIUM_RATE,SATELLITE; 'none' restores them all. "
            f"Blocked by default: {','.join(destination.DEFAULT_BLOCKED_TYPES)}",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a partner's limits, providers, status or destination policy."""
    try:
        limits = _limits(
            concurrency,
            agent_limit,
            rate_limit,
            calls_rate_limit,
            providers,
            voicemail_detection,
            status,
            sandbox_concurrency,
        )
        if allowed_countries is not None:
            countries = destination.parse_countries(allowed_countries)
            limits = dataclasses.replace(limits, allowed_countries=countries, set_countries=True)
        if allow_number_types is not None:
            limits = dataclasses.replace(limits, allowed_number_types=destination.parse_types(allow_number_types))
    except ValueError as exc:  # AccountError is one
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    p = _account_call(partners.update_partner, partner, limits)
    info = _partner_info(p)
    if as_json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            console.print(f"{k:28} {v}")


def _partner_info(p: Any) -> dict[str, Any]:  # p: the stored partner row
    return {
        "partner_id": p.id,
        "name": p.name,
        "status": p.status,
        "concurrency_limit": p.concurrency_limit,
        "sandbox_concurrency_limit": p.sandbox_concurrency_limit,
        "agent_limit": p.agent_limit,
        "rate_limit_per_min": p.rate_limit_per_min,
        "calls_rate_limit_per_min": p.calls_rate_limit_per_min,
        "allowed_providers": p.allowed_providers,
        "voicemail_detection_enabled": p.voicemail_detection_enabled,
        "allowed_countries": p.allowed_countries if p.allowed_countries is not None else "all",
        "blocked_number_types": list(
            destination.DestinationPolicy.from_stored(None, p.allowed_number_types).blocked_types
        ),
    }


@partner_app.command("list")
def partner_list(as_json: JsonOpt = False) -> None:
    """List partners."""
    rows = _account_call(partners.list_partners)
    if as_json:
        print(json.dumps([_partner_info(p) for p in rows]))  # everything the table shows, and the rest
        return
    table = Table("partner_id", "name", "status", "concurrency", "agents", "providers")
    for p in rows:
        table.add_row(
            p.id, p.name, p.status, str(p.concurrency_limit), str(p.agent_limit), ",".join(p.allowed_providers)
        )
    console.print(table)


@webhooks_app.command("listen")
def webhooks_listen(
    secret: Annotated[str, typer.Option(help="The endpoint's whsec_ secret (from POST /config/webhooks)")],
    port: Annotated[int, typer.Option(help="Port to listen on")] = 9000,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    count: Annotated[int | None, typer.Option(help="Exit after this many verified events")] = None,
) -> None:
    """Verify each webhook with the secret and print it as one JSON line (a receiver for development)."""
    from voxline.webhooks.listener import listen

    with contextlib.suppress(KeyboardInterrupt):
        _run(listen(host, port, secret, count))


@key_app.command("create")
def key_create(
    partner: str,
    test: Annotated[
        bool, typer.Option("--test", help="rg_test_ key: calls go to the built-in carrier emulators")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Issue a new API key for a partner (shown once)."""
    issued = _account_call(partners.create_key, partner, keys.TEST if test else keys.LIVE)
    _print_key(issued, as_json, "key created")


@key_app.command("revoke")
def key_revoke(key_prefix: str, as_json: JsonOpt = False) -> None:
    """Revoke the key that starts with KEY_PREFIX (e.g. rg_live_AbCdEfGh)."""
    key = _account_call(partners.revoke_key, key_prefix)
    if as_json:
        print(json.dumps({"key_id": key.id, "prefix": key.prefix, "revoked": True}))
    else:
        console.print(f"revoked {key.prefix}…")


@admin_app.command("create-token")
def admin_create_token(
    label: Annotated[str, typer.Option(help="A name to tell tokens apart")] = "admin",
    as_json: JsonOpt = False,
) -> None:
    """Make an admin token for the dashboard's operator view at /operator/signin (shown once)."""
    issued = _account_call(admin_tokens.create, label, creates=True)
    if as_json:
        print(json.dumps({"token_id": issued.token_id, "admin_token": issued.token, "prefix": issued.prefix}))
        return
    console.print("[green]admin token created[/green]")
    console.print(f"admin_token  {issued.token}   [dim](shown once: store it now)[/dim]", soft_wrap=True)
    console.print("[dim]sign in at /operator/signin on the dashboard[/dim]")


def _print_key(issued: partners.IssuedKey, as_json: bool, headline: str) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "partner_id": issued.partner_id,
                    "key_id": issued.key_id,
                    "api_key": issued.api_key,
                    "prefix": issued.prefix,
                    "mode": issued.mode,
                }
            )
        )
        return
    console.print(f"[green]{headline}[/green]")
    console.print(f"partner_id  {issued.partner_id}")
    console.print(f"api_key     {issued.api_key}   [dim](shown once: store it now)[/dim]", soft_wrap=True)
    if issued.mode == keys.TEST:
        console.print("[dim]test key: calls go to the built-in carrier emulators (sandbox)[/dim]")


def main() -> None:
    app()
