//! `kobe kill-switch on --reason TEXT [--by NAME] | off --confirm | status`.

use chrono::{DateTime, Utc};
use kobe_actors::kill_switch;

use super::{CommandError, Context, Done};
use crate::home::Home;

#[derive(Debug, clap::Args)]
pub struct KillSwitch {
    #[command(subcommand)]
    pub action: KillSwitchAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum KillSwitchAction {
    /// Engage: no new entries from now on.
    On {
        #[arg(long)]
        reason: String,
        /// Who engages it (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Release (needs --confirm).
    Off {
        #[arg(long)]
        confirm: bool,
        #[arg(long)]
        by: Option<String>,
    },
    /// Show it.
    Status,
}

impl KillSwitch {
    pub fn run(self, ctx: Context) -> Result<Done, CommandError> {
        let (home, now) = (&ctx.home, ctx.wall.now());
        let text = match self.action {
            KillSwitchAction::On { reason, by } => {
                on(home, &reason, &by.unwrap_or_else(default_actor), now)?
            }
            KillSwitchAction::Off { confirm, by } => {
                off(home, confirm, &by.unwrap_or_else(default_actor), now)?
            }
            KillSwitchAction::Status => status(home)?,
        };
        Ok(text.into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KillSwitchCommandError {
    #[error("kill-switch off needs --confirm: releasing lets the runner enter trades again")]
    NotConfirmed,
    #[error("kill-switch on needs a non-empty --reason")]
    NoReason,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Who to record when `--by` is not given.
pub fn default_actor() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "operator".into())
}

pub fn on(
    home: &Home,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, KillSwitchCommandError> {
    if reason.trim().is_empty() {
        return Err(KillSwitchCommandError::NoReason);
    }
    let current = kill_switch::read(&home.state())?;
    if current.active {
        return Ok(format!(
            "kill switch already ON since {} ({}); left as it is\n",
            current.since.map_or("?".into(), |s| s.to_rfc3339()),
            current.reason.unwrap_or_default()
        ));
    }
    kill_switch::engage(&home.state(), reason.trim(), by, now)?;
    Ok(format!(
        "kill switch ON: {} (by {by}); no new entries until `kobe kill-switch off --confirm`\n",
        reason.trim()
    ))
}

pub fn off(
    home: &Home,
    confirm: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, KillSwitchCommandError> {
    if !confirm {
        return Err(KillSwitchCommandError::NotConfirmed);
    }
    Ok(if kill_switch::release(&home.state(), by, now)? {
        format!("kill switch OFF (released by {by})\n")
    } else {
        "kill switch was not on; nothing changed\n".into()
    })
}

pub fn status(home: &Home) -> Result<String, KillSwitchCommandError> {
    let s = kill_switch::read(&home.state())?;
    Ok(if s.active {
        format!(
            "kill switch ON since {}: {}\n",
            s.since.map_or("?".into(), |t| t.to_rfc3339()),
            s.reason.unwrap_or_default()
        )
    } else {
        "kill switch off\n".into()
    })
}
