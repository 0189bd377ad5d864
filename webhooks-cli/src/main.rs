//! `webhooks`, the command line of the webhooks framework.
//!
//! It reads the server's own TOML configuration (`--config FILE`, else
//! `$WEBHOOKS_CONFIG`, else `./webhooks.toml`) with the `WEBHOOKS__…`
//! variables set on it, so what it signs and checks is what the server
//! verifies:
//!
//! ```text
//! $ cargo install --path webhooks-cli
//! $ webhooks check-config --config webhooks.toml
//! $ webhooks send stripe --event payment_intent.succeeded
//! HTTP 200
//! {"status":"accepted","id":"evt_…"}
//! ```
//!
//! - `webhooks send <source>` signs a delivery exactly as that source's
//!   provider does, with the source's secret from the configuration (the
//!   first of `secrets` or `secrets-env` while rotating), and posts it to
//!   `http://{bind}/webhooks/{source}` (`WEBHOOKS__BIND` or `WEBHOOKS_BIND`
//!   honoured) or `--url`.
//!   Without `--body` it sends a small realistic sample of the provider's
//!   payload, with a fresh id every time, so two sends are two events.
//! - `webhooks check-config` loads and resolves the file as the server does
//!   at start-up (validators built, `secret-env`, `secrets-env` and
//!   `secret-file` read) and lists its sources, with where each secret
//!   comes from, never the secret.
//! - `webhooks events list|show|replay` and `webhooks dead list|requeue`
//!   read the event log and the dead letters over the admin API, at
//!   `http://{[webhooks.admin] bind}` (or `--admin-url`) with the token in
//!   the `token-env` variable (or `--token-env`); bulk replays and requeues
//!   show a progress bar.
//!
//! All print human text (tables), or one JSON document with `--json`. Exit
//! codes: 0 on success (a 2xx answer, a valid file), 1 when the server
//! answered with another status (or part of a bulk run failed), 2 on a
//! usage or configuration error, 3 when the server cannot be reached, 4
//! when the admin token was refused. No secret or token is ever printed.

mod admin;
mod check;
mod config;
mod dead;
mod events;
mod output;
mod samples;
mod send;
mod sign;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Sign and send test webhook deliveries, check a configuration, and read
/// and replay the event log and the dead letters.
#[derive(Debug, Parser)]
#[command(name = "webhooks", version, about)]
struct Cli {
    /// The configuration file the server reads.
    #[arg(
        long,
        global = true,
        env = "WEBHOOKS_CONFIG",
        default_value = "webhooks.toml"
    )]
    config: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    admin: admin::AdminArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign a delivery as the source's provider does and POST it.
    Send(SendArgs),
    /// Load and validate the configuration as the server does; list its sources.
    CheckConfig,
    /// The event log, over the admin API: list, show, replay.
    #[command(subcommand)]
    Events(EventsCommand),
    /// The dead letters (queued dispatch), over the admin API: list, requeue.
    #[command(subcommand)]
    Dead(DeadCommand),
}

/// `webhooks events …`.
#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Recorded events, newest first.
    List {
        #[command(flatten)]
        filters: events::Filters,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Every page, not only the first.
        #[arg(long)]
        all: bool,
    },
    /// One event's record: status, attempts, each listener, the body.
    Show { source: String, id: String },
    /// Run one event, or every dead and failed event of a source (filters
    /// narrow it), through its listeners again as a new attempt.
    Replay {
        /// The source of the one event to replay.
        #[arg(requires = "id")]
        source_name: Option<String>,
        /// Its id.
        id: Option<String>,
        #[command(flatten)]
        filters: events::Filters,
        /// List what would be replayed, and replay nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `webhooks dead …`.
#[derive(Debug, Subcommand)]
enum DeadCommand {
    /// The dead letters, oldest first.
    List {
        /// Only this source's.
        #[arg(long)]
        source: Option<String>,
    },
    /// Put one dead letter, or with `--all` every one (of `--source`), back in the queue.
    Requeue {
        /// The source of the one dead letter.
        #[arg(requires = "id", conflicts_with = "all")]
        source_name: Option<String>,
        /// Its event id.
        id: Option<String>,
        /// Every dead letter (of `--source` when given).
        #[arg(long)]
        all: bool,
        /// With `--all`: only this source's.
        #[arg(long, requires = "all")]
        source: Option<String>,
    },
}

/// `webhooks send`.
#[derive(Debug, Args)]
struct SendArgs {
    /// The source, as configured: `[webhooks.sources.<source>]`.
    source: String,
    /// The event type of the built-in sample (`payment_intent.succeeded`,
    /// `push`, `issues.opened` …); for GitHub, Shopify and GitLab also the
    /// event header.
    #[arg(long)]
    event: Option<String>,
    /// The body to sign and send, from a file or `-` for standard input,
    /// instead of the built-in sample (Twilio: the form, URL-encoded).
    #[arg(long, value_name = "FILE|-")]
    body: Option<PathBuf>,
    /// Where to POST (default `http://{bind}/webhooks/{source}`).
    #[arg(long)]
    url: Option<String>,
    /// An extra header, `Name: value`; repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Discord, or Standard Webhooks with a `whpk_` public key: the
    /// environment variable holding the private signing key (Discord: 64
    /// hex digits of the seed; Standard Webhooks: `whsk_…`).
    #[arg(long, value_name = "VAR")]
    signing_key_env: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Send(args) => send::run(&cli.config, args, cli.json),
        Command::CheckConfig => check::run(&cli.config, cli.json),
        Command::Events(command) => run_events(&cli, command),
        Command::Dead(command) => run_dead(&cli, command),
    };
    result.unwrap_or_else(|failure| {
        output::print_failure(&failure, cli.json);
        failure.exit_code()
    })
}

fn run_events(cli: &Cli, command: &EventsCommand) -> Result<ExitCode, output::Failure> {
    let admin = admin::Admin::from_config(&cli.config, &cli.admin)?;
    match command {
        EventsCommand::List {
            filters,
            limit,
            all,
        } => events::list(&admin, filters, *limit, *all, cli.json),
        EventsCommand::Show { source, id } => events::show(&admin, source, id, cli.json),
        EventsCommand::Replay {
            source_name,
            id,
            filters,
            dry_run,
        } => {
            let one = source_name.as_deref().zip(id.as_deref());
            events::replay(&admin, one, filters, *dry_run, cli.json)
        }
    }
}

fn run_dead(cli: &Cli, command: &DeadCommand) -> Result<ExitCode, output::Failure> {
    let admin = admin::Admin::from_config(&cli.config, &cli.admin)?;
    match command {
        DeadCommand::List { source } => dead::list(&admin, source.as_deref(), cli.json),
        DeadCommand::Requeue {
            source_name,
            id,
            all,
            source,
        } => {
            let one = source_name.as_deref().zip(id.as_deref());
            if one.is_none() && !all {
                return Err(output::Failure::Usage(
                    "give <SOURCE> <ID>, or --all".into(),
                ));
            }
            dead::requeue(&admin, one, source.as_deref(), cli.json)
        }
    }
}
