//! A binary in a real terminal: a tmux server of the test's own, one session in it, its screen
//! read back with `capture-pane`.

use std::process::{Command, Output};
use std::time::Duration;

/// A tmux server of this test's own (its socket named by pid and test), killed when dropped.
pub struct Tmux {
    socket: String,
    /// The one session the test starts.
    session: String,
}

impl Tmux {
    /// A server for the test `name`; `needed_for` says what a missing tmux keeps from running.
    pub fn new(name: &str, session: &str, needed_for: &str) -> Self {
        let found = Command::new("tmux").arg("-V").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "tmux is needed to {needed_for} in a terminal: install the `tmux` package \
             (apt-get install tmux)"
        );
        Self {
            socket: format!("kobe-test-{}-{name}", std::process::id()),
            session: session.to_string(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs `shell` in the session, in a new `width`x`height` pane.
    pub fn start(&self, shell: &str, width: u16, height: u16) {
        let (w, h) = (width.to_string(), height.to_string());
        let started = self.run(&[
            "new-session",
            "-d",
            "-s",
            &self.session,
            "-x",
            &w,
            "-y",
            &h,
            shell,
        ]);
        assert!(started.status.success(), "{}", super::stderr(&started));
    }

    /// Sends `keys` to the session.
    pub fn keys(&self, keys: &[&str]) -> Output {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.run(&args)
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .run(&["capture-pane", "-p", "-t", &self.session])
                .stdout,
        )
        .into_owned()
    }

    pub fn alive(&self) -> bool {
        self.run(&["has-session", "-t", &self.session])
            .status
            .success()
    }

    /// Waits up to `within` for the screen to satisfy `check`; the screen that did, else a
    /// failure showing the last screen.
    pub fn wait_for(&self, within: Duration, what: &str, check: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let ok = super::eventually(within, || {
            last = self.screen();
            check(&last)
        });
        assert!(ok, "never showed {what}; last screen:\n{last}");
        last
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
