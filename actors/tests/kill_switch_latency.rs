//! How fast the kill-switch actor notices `state/KILL_SWITCH`: file written → broadcast
//! received, over many engage/release cycles. Measures, does not assert (target: p99 under
//! 100 ms). Run with `cargo test -p kobe-actors --release --test kill_switch_latency -- --ignored --nocapture`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use kobe_actors::calendar::NyseCalendar;
use kobe_actors::clock::LiveClock;
use kobe_actors::kill_switch::{KillSwitchActor, KillSwitchSetup, KILL_SWITCH_FILE};
use kobe_actors::messages::KillSwitchChanged;
use kobe_actors::schedule::Schedule;
use kobe_actors::view::RuntimeView;

struct Probe(Arc<Mutex<Vec<(bool, Instant)>>>);
impl Actor for Probe {
    type Context = Context<Self>;
}
impl Handler<KillSwitchChanged> for Probe {
    type Result = ();
    fn handle(&mut self, msg: KillSwitchChanged, _: &mut Context<Self>) {
        self.0.lock().unwrap().push((msg.active, Instant::now()));
    }
}

#[actix_rt::test]
#[ignore = "prints figures; about 20 s"]
async fn kill_switch_latency() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let probe = Probe(seen.clone()).start();
    let view = RuntimeView::new(
        Some(kobe_actors::mode::RunMode::Paper),
        Arc::new(LiveClock),
        Arc::new(LiveClock),
        Arc::new(Schedule::new(vec![], NyseCalendar)),
        chrono::TimeDelta::seconds(30),
    );
    let _switch = KillSwitchActor::new(KillSwitchSetup {
        state_dir: dir.path().to_path_buf(),
        subscribers: vec![probe.recipient()],
        view,
        wall: Arc::new(LiveClock),
        flag: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        on_event: None,
        watch: true,
    })
    .start();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let path = dir.path().join(KILL_SWITCH_FILE);
    let mut latencies = Vec::new();
    for i in 0..200 {
        let engage = i % 2 == 0;
        let before = seen.lock().unwrap().len();
        let written = Instant::now();
        if engage {
            std::fs::write(&path, format!("cycle {i}")).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        loop {
            if let Some((active, at)) = seen.lock().unwrap().get(before).copied() {
                assert_eq!(active, engage);
                latencies.push(at - written);
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    println!(
        "kill switch latency over {} changes: p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies[latencies.len() - 1]
    );
}
